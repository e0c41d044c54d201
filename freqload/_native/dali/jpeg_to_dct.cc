// freqload's DALI front: a CPU operator over the native core (../core).
//
//   fn.freqload.jpeg_to_dct(jpegs, mask=[...], size=[56, 56], chroma="dct",
//                           dequantize=True, strict=True, max_pixels=100_000_000,
//                           on_error="raise")
//     -> (int16 [C, out_h, out_w], int32 status scalar, int32 [0]) per sample
//   regroup="device": (int16 planes [capacity], status, int32 layout [FL_LAYOUT_INTS])
//
// Thin by design: each sample is one fl_decode_channels call on the thread
// pool's thread, with one libjpeg decompressor per thread, reused. The same
// function serves freqload's Python extension, so both engines produce the
// same tensors.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <memory>
#include <new>
#include <string>
#include <vector>

#include "dali/pipeline/operator/operator.h"

#include "../core/fl_core.h"

namespace freqload_dali {

class JpegToDct : public ::dali::Operator<::dali::CPUBackend> {
 public:
  explicit JpegToDct(const ::dali::OpSpec &spec) : ::dali::Operator<::dali::CPUBackend>(spec) {
    for (int k : spec.GetRepeatedArgument<int>("mask")) {
      DALI_ENFORCE(k >= 0 && k < 192, "freqload: mask indices must be in [0, 192), got " +
                                          std::to_string(k));
      component_.push_back(static_cast<uint8_t>(k / 64));
      coef_.push_back(static_cast<uint8_t>(k % 64));
    }
    DALI_ENFORCE(!component_.empty(), "freqload: the mask selects no channel");
    std::string chroma = spec.GetArgument<std::string>("chroma");
    DALI_ENFORCE(chroma == "dct" || chroma == "nearest",
                 "freqload: chroma must be \"dct\" or \"nearest\", got \"" + chroma + "\"");
    chroma_ = chroma == "dct" ? FL_CHROMA_DCT : FL_CHROMA_NEAREST;
    dequantize_ = spec.GetArgument<bool>("dequantize");
    strict_ = spec.GetArgument<bool>("strict");
    max_pixels_ = spec.GetArgument<int64_t>("max_pixels");
    max_file_size_ = spec.GetArgument<int64_t>("max_file_size");
    max_scans_ = spec.GetArgument<int>("max_scans");
    max_memory_ = spec.GetArgument<int64_t>("max_memory");
    partial_decode_ = spec.GetArgument<bool>("partial_decode");
    DALI_ENFORCE(max_file_size_ >= 0 && max_scans_ >= 0 && max_memory_ >= 0,
                 "freqload: limits must be >= 0 (0: no limit)");
    DALI_ENFORCE(max_pixels_ >= 0, "freqload: max_pixels must be >= 0 (0: no limit)");
    auto size = spec.GetRepeatedArgument<int>("size");
    DALI_ENFORCE(size.size() == 2 && size[0] > 0 && size[1] > 0,
                 "freqload: size must be [out_h, out_w] in blocks, both positive");
    out_h_ = size[0];
    out_w_ = size[1];
    std::string on_error = spec.GetArgument<std::string>("on_error");
    DALI_ENFORCE(on_error == "raise" || on_error == "flag",
                 "freqload: on_error must be \"raise\" or \"flag\", got \"" + on_error + "\"");
    raise_ = on_error == "raise";
    std::string regroup = spec.GetArgument<std::string>("regroup");
    DALI_ENFORCE(regroup == "cpu" || regroup == "device",
                 "freqload: regroup must be \"cpu\" or \"device\", got \"" + regroup + "\"");
    planes_ = regroup == "device";
    std::string input = spec.GetArgument<std::string>("input");
    DALI_ENFORCE(input == "bytes" || input == "paths",
                 "freqload: input must be \"bytes\" or \"paths\", got \"" + input + "\"");
    paths_ = input == "paths";
    std::string transform = spec.GetArgument<std::string>("transform");
    DALI_ENFORCE(transform == "blocks" || transform == "eval" || transform == "train",
                 "freqload: transform must be \"blocks\", \"eval\" or \"train\", got \"" +
                     transform + "\"");
    transform_.kind = transform == "blocks" ? FL_TRANSFORM_BLOCKS
                      : transform == "eval" ? FL_TRANSFORM_EVAL
                                            : FL_TRANSFORM_TRAIN;
    auto scale = spec.GetRepeatedArgument<float>("scale");
    auto ratio = spec.GetRepeatedArgument<float>("ratio");
    DALI_ENFORCE(scale.size() == 2 && scale[0] > 0 && scale[0] <= scale[1],
                 "freqload: scale must be [min, max] with 0 < min <= max");
    DALI_ENFORCE(ratio.size() == 2 && ratio[0] > 0 && ratio[0] <= ratio[1],
                 "freqload: ratio must be [min, max] with 0 < min <= max");
    transform_.scale_min = scale[0];
    transform_.scale_max = scale[1];
    transform_.ratio_min = ratio[0];
    transform_.ratio_max = ratio[1];
    transform_.flip_p = spec.GetArgument<float>("flip");
    transform_.crop_ratio = spec.GetArgument<float>("crop_ratio");
    DALI_ENFORCE(transform_.crop_ratio > 0 && transform_.crop_ratio <= 1,
                 "freqload: crop_ratio must be in (0, 1]");
    DALI_ENFORCE(!(planes_ && transform_.kind != FL_TRANSFORM_BLOCKS),
                 "freqload: regroup=\"device\" supports transform=\"blocks\" only");
    DALI_ENFORCE(transform_.kind == FL_TRANSFORM_BLOCKS || dequantize_,
                 "freqload: resizing transforms need dequantize=True");
  }

  ~JpegToDct() override {
    for (fl_decoder *d : decoders_) fl_decoder_free(d);
  }

 protected:
  bool SetupImpl(std::vector<::dali::OutputDesc> &output_desc,
                 const ::dali::Workspace &ws) override {
    const auto &in = ws.Input<::dali::CPUBackend>(0);
    DALI_ENFORCE(in.type() == DALI_UINT8,
                 "freqload.jpeg_to_dct takes encoded JPEG bytes or file paths (uint8)");
    int n = in.num_samples();
    const fl_channel_spec spec = Spec();
    output_desc.resize(3);
    if (planes_)
      output_desc[0].shape = ::dali::uniform_list_shape(
          n, ::dali::TensorShape<>{static_cast<int64_t>(fl_planes_capacity(&spec))});
    else
      output_desc[0].shape = ::dali::uniform_list_shape(
          n, ::dali::TensorShape<>{static_cast<int64_t>(component_.size()), out_h_, out_w_});
    output_desc[0].type = DALI_INT16;
    output_desc[1].shape = ::dali::uniform_list_shape(n, ::dali::TensorShape<>{});
    output_desc[1].type = DALI_INT32;
    output_desc[2].shape = ::dali::uniform_list_shape(
        n, ::dali::TensorShape<>{planes_ ? FL_LAYOUT_INTS : 0});
    output_desc[2].type = DALI_INT32;
    return true;
  }

  void RunImpl(::dali::Workspace &ws) override {
    const auto &in = ws.Input<::dali::CPUBackend>(0);
    auto &out = ws.Output<::dali::CPUBackend>(0);
    auto &status = ws.Output<::dali::CPUBackend>(1);
    auto &layouts = ws.Output<::dali::CPUBackend>(2);
    auto &tp = ws.GetThreadPool();
    const int n = in.num_samples();
    const int64_t *keys = nullptr;  // optional second input: int64 key per sample
    std::vector<int64_t> key_values;
    if (ws.NumInput() > 1) {
      const auto &k = ws.Input<::dali::CPUBackend>(1);
      DALI_ENFORCE(k.type() == DALI_INT64 && k.num_samples() == n,
                   "freqload.jpeg_to_dct: the second input must be one int64 key per sample");
      key_values.resize(n);
      for (int i = 0; i < n; i++) {
        DALI_ENFORCE(k.tensor_shape(i).num_elements() == 1,
                     "freqload.jpeg_to_dct: one key per sample");
        key_values[i] = *k.tensor<int64_t>(i);
      }
      keys = key_values.data();
    }
    DALI_ENFORCE(keys != nullptr || transform_.kind != FL_TRANSFORM_TRAIN,
                 "freqload.jpeg_to_dct: transform=\"train\" needs the keys input");
    EnsureDecoders(tp.NumThreads() + 1);
    if (files_.size() < decoders_.size()) files_.resize(decoders_.size());
    std::vector<std::string> errors(n);
    const fl_channel_spec spec = Spec();
    const size_t capacity = fl_planes_capacity(&spec);
    fl_options opts{};
    opts.max_pixels = static_cast<uint64_t>(max_pixels_);
    opts.max_file_size = static_cast<uint64_t>(max_file_size_);
    opts.max_scans = max_scans_;
    opts.max_memory = static_cast<uint64_t>(max_memory_);
    opts.strict = strict_;
    opts.require_coefficients = 1;
    opts.partial_decode = partial_decode_;
    const size_t out_elems =
        planes_ ? capacity : spec.count * static_cast<size_t>(out_h_) * out_w_;
    for (int i = 0; i < n; i++) {
      const int64_t bytes = in.tensor_shape(i).num_elements();
      tp.AddWork(
          [&, i, bytes](int thread_id) {
            const size_t slot = static_cast<size_t>(thread_id + 1);
            int16_t *o = out.mutable_tensor<int16_t>(i);
            int32_t *st = status.mutable_tensor<int32_t>(i);
            if (slot >= decoders_.size()) {
              *st = FL_ERR_ARGUMENT;
              std::memset(o, 0, out_elems * sizeof(int16_t));
              errors[i] = "internal error: thread index out of range";
              return;
            }
            fl_decoder *d = decoders_[slot];
            const uint8_t *data = in.tensor<uint8_t>(i);
            size_t size = static_cast<size_t>(bytes);
            fl_status s;
            if (paths_) {  // the input is a file path: read it into this thread's buffer
              // a batch of paths may come as one NUL-padded uint8 matrix: a path ends at
              // its first NUL (a path cannot contain one)
              const char *chars = reinterpret_cast<const char *>(data);
              std::string path(chars, strnlen(chars, size));
              std::string why;
              int32_t code = kUnreadable;
              if (!ReadFile(path, &files_[slot], &why, max_file_size_, &code)) {
                *st = code;
                std::memset(o, 0, out_elems * sizeof(int16_t));
                if (planes_) std::memset(layouts.mutable_tensor<int32_t>(i), 0,
                                         FL_LAYOUT_INTS * sizeof(int32_t));
                errors[i] = (code == kUnreadable ? "cannot read " : "") + path + ": " + why;
                return;
              }
              data = files_[slot].data.get();
              size = files_[slot].size;
            }
            if (planes_) {
              fl_planes_layout layout;
              int32_t *packed = layouts.mutable_tensor<int32_t>(i);
              s = fl_decode_planes(d, data, size, &opts, &spec, o, capacity, &layout, nullptr);
              if (s == FL_OK)
                fl_layout_pack(&layout, packed);
              else
                std::memset(packed, 0, FL_LAYOUT_INTS * sizeof(int32_t));
            } else {
              const uint64_t key = keys ? static_cast<uint64_t>(keys[i]) : 0;
              s = fl_decode_channels(d, data, size, &opts, &spec, key, o, nullptr);
            }
            *st = static_cast<int32_t>(s);
            if (s != FL_OK) {
              std::memset(o, 0, out_elems * sizeof(int16_t));
              errors[i] = fl_decoder_message(d);
            }
          },
          bytes);
    }
    tp.RunAll();
    if (raise_) {
      for (int i = 0; i < n; i++) {
        if (!errors[i].empty()) {
          const std::string &src = in.GetMeta(i).GetSourceInfo();
          DALI_FAIL("freqload: " + (src.empty() ? "sample " + std::to_string(i) : src) + ": " +
                    errors[i]);
        }
      }
    }
  }

 private:
  static constexpr int32_t kUnreadable = 6;  // freqload.engines.common.UNREADABLE

  // One thread's file buffer: grows to the largest file read, never shrinks or
  // zero-fills (std::vector::resize would clear every byte it adds, per file).
  struct FileBuffer {
    std::unique_ptr<uint8_t[]> data;
    size_t capacity = 0, size = 0;
  };

  static bool ReadFile(const std::string &path, FileBuffer *buf, std::string *why,
                       int64_t max_size, int32_t *code) {
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
      *why = std::strerror(errno);
      return false;
    }
    struct stat st;
    bool ok = ::fstat(fd, &st) == 0;
    if (ok && max_size > 0 && st.st_size > max_size) {  // not read at all
      *why = "file of " + std::to_string(st.st_size) + " bytes is over the limit of " +
             std::to_string(max_size) + " bytes (max_file_size)";
      *code = FL_ERR_TOO_LARGE;
      ::close(fd);
      return false;
    }
    size_t got = 0;
    if (ok) {
      const size_t want = static_cast<size_t>(st.st_size);
      if (want > buf->capacity) {
        buf->data.reset(new (std::nothrow) uint8_t[want]);
        buf->capacity = buf->data ? want : 0;
        if (!buf->data) {
          *why = "out of memory for a file of " + std::to_string(want) + " bytes";
          ::close(fd);
          return false;
        }
      }
      while (got < want) {
        ssize_t r = ::read(fd, buf->data.get() + got, want - got);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) break;
        got += static_cast<size_t>(r);
      }
      buf->size = got;
    }
    if (!ok) *why = std::strerror(errno);
    ::close(fd);
    return ok;
  }

  fl_channel_spec Spec() const {
    fl_channel_spec spec{};
    spec.transform = transform_;
    spec.component = component_.data();
    spec.coef = coef_.data();
    spec.count = static_cast<int>(component_.size());
    spec.dequantize = dequantize_;
    spec.chroma = chroma_;
    spec.out_h = out_h_;
    spec.out_w = out_w_;
    return spec;
  }

  void EnsureDecoders(size_t count) {
    while (decoders_.size() < count) {
      char message[FL_MESSAGE_MAX];
      fl_decoder *d = fl_decoder_new(message, sizeof message);
      DALI_ENFORCE(d != nullptr, std::string("freqload: ") + message);
      decoders_.push_back(d);
    }
  }

  std::vector<uint8_t> component_, coef_;
  int chroma_ = FL_CHROMA_DCT;
  bool dequantize_ = true, strict_ = true, raise_ = true, planes_ = false, paths_ = false;
  bool partial_decode_ = true;
  std::vector<FileBuffer> files_;  // per thread: the file just read (input="paths")
  int64_t max_pixels_ = 0, max_file_size_ = 0, max_memory_ = 0;
  int max_scans_ = 0;
  int out_h_ = 0, out_w_ = 0;
  fl_transform transform_{};
  std::vector<fl_decoder *> decoders_;
};

}  // namespace freqload_dali

DALI_REGISTER_OPERATOR(freqload__JpegToDct, ::freqload_dali::JpegToDct, ::dali::CPU);

DALI_SCHEMA(freqload__JpegToDct)
    .DocStr(R"(Decodes JPEGs to DCT coefficients (no inverse DCT, no colour conversion) and
regroups them into int16 [C, out_h, out_w]: the channels of the mask (channel k of the
192-channel grid is component*64 + 8*row + col), chroma aligned to the luma block grid,
centre-cropped (MCU-aligned) or zero-padded to ``size`` blocks. The second output is
the status of each sample: 0 ok, 1 corrupt data, 2 unsupported image, 3 over
max_pixels. With regroup="device" the first output is instead the sample's planes
before chroma alignment (int16, a fixed capacity of which the layout's 8th entry says how
many are used) and the third the layout (int32 [FL_LAYOUT_INTS]) that freqload.regroup
finishes on the device; with regroup="cpu" the third output is empty. freqload's native
core does the work.)")
    .NumInput(1, 2)
    .NumOutput(3)
    .AddArg("mask", "Channel indices in [0, 192), in output order.", DALI_INT_VEC)
    .AddArg("size", "Output grid [out_h, out_w] in 8x8 blocks (56, 56 = 448 pixels).",
            DALI_INT_VEC)
    .AddOptionalArg("chroma", "\"dct\" (exact DCT-domain upsampling) or \"nearest\".",
                    std::string("dct"))
    .AddOptionalArg("dequantize", "Multiply by the quantisation tables.", true)
    .AddOptionalArg("strict", "Corrupt-data warnings are errors.", true)
    .AddOptionalArg("max_pixels", "Refuse larger images (0: no limit).",
                    static_cast<int64_t>(100000000))
    .AddOptionalArg("max_file_size", "Refuse larger files, unread (0: no limit; status 3).",
                    static_cast<int64_t>(256) << 20)
    .AddOptionalArg("max_scans", "Refuse progressive files with more scans (0: no limit).",
                    1000)
    .AddOptionalArg("max_memory", "Refuse images whose coefficients need more bytes (0: none).",
                    static_cast<int64_t>(2) << 30)
    .AddOptionalArg("partial_decode",
                    "Stop entropy decoding once the rows the sample reads are decoded (sequential "
                    "single-scan files ending with an EOI marker; others are read whole). Same "
                    "samples; a stray marker in the rows skipped makes the file decode whole, "
                    "but damage without one wholly below those rows goes unseen. False: every "
                    "row.",
                    true)
    .AddOptionalArg("on_error",
                    "\"raise\": a bad sample fails the batch, naming the file; \"flag\": it is "
                    "zeros with a non-zero status.",
                    std::string("raise"))
    .AddOptionalArg("regroup", "\"cpu\": finished samples; \"device\": planes + layout.",
                    std::string("cpu"))
    .AddOptionalArg("input",
                    "\"bytes\": the input is encoded JPEG data; \"paths\": it is a file path "
                    "(UTF-8 bytes, ending at the first NUL, so a batch may be one NUL-padded "
                    "matrix), read on the operator's thread (status 6 when unreadable).",
                    std::string("bytes"))
    .AddOptionalArg("transform",
                    "\"blocks\": block-aligned centre crop / zero padding (exact, no resampling); "
                    "\"eval\": resize the shorter side to max(size)*8/crop_ratio, centre crop; "
                    "\"train\": RandomResizedCrop + horizontal flip drawn from the second "
                    "input (an int64 key per sample). The resizing kinds compute Pillow-BILINEAR "
                    "resizing in the DCT domain (freqload.transforms).",
                    std::string("blocks"))
    .AddOptionalArg("scale", "train: [min, max] fraction of the image area.",
                    std::vector<float>{0.08f, 1.0f})
    .AddOptionalArg("ratio", "train: [min, max] aspect ratio (w/h).",
                    std::vector<float>{0.75f, 4.0f / 3.0f})
    .AddOptionalArg("flip", "train: probability of a horizontal flip.", 0.5f)
    .AddOptionalArg("crop_ratio", "eval: crop / resized shorter side.", 0.875f);
