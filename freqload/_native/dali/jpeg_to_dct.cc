// freqload's DALI front: a CPU operator over the native core (../core).
//
//   fn.freqload.jpeg_to_dct(jpegs[, keys[, ranges]], recipe=freqload.Recipe(...).dali_arg,
//                           on_error="raise", input="bytes")
//     -> (int16 [C, out_h, out_w], int32 status scalar, int32 [0], uint8 message
//         [FL_MESSAGE_MAX]) per sample
//   a regroup="device" recipe: (int16 planes [capacity], status, int32 layout
//   [FL_LAYOUT_INTS], message)
//
// Thin by design: the recipe (everything that decides a sample) arrives packed and is
// read and checked once by the core (fl_recipe_unpack); each sample is one call of the
// core's batch entry point (fl_decode_items) on the thread pool's thread, with one libjpeg
// decompressor per thread, reused. The native engine's pool runs the same function, so
// both engines produce the same tensors, statuses and messages.
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "dali/pipeline/operator/operator.h"

#include "../core/fl_core.h"

namespace freqload_dali {

class JpegToDct : public ::dali::Operator<::dali::CPUBackend> {
 public:
  explicit JpegToDct(const ::dali::OpSpec &spec) : ::dali::Operator<::dali::CPUBackend>(spec) {
    std::vector<uint8_t> packed;
    for (int b : spec.GetRepeatedArgument<int>("recipe")) {
      DALI_ENFORCE(b >= 0 && b < 256, "freqload: recipe must be freqload.Recipe(...).dali_arg "
                                      "(bytes as ints 0..255)");
      packed.push_back(static_cast<uint8_t>(b));
    }
    char message[FL_MESSAGE_MAX];
    DALI_ENFORCE(fl_recipe_unpack(packed.data(), packed.size(), &recipe_, message,
                                  sizeof message) == FL_OK,
                 std::string("freqload: ") + message);
    planes_ = recipe_.output == FL_OUTPUT_PLANES;
    std::string on_error = spec.GetArgument<std::string>("on_error");
    DALI_ENFORCE(on_error == "raise" || on_error == "flag",
                 "freqload: on_error must be \"raise\" or \"flag\", got \"" + on_error + "\"");
    raise_ = on_error == "raise";
    std::string input = spec.GetArgument<std::string>("input");
    DALI_ENFORCE(input == "bytes" || input == "paths",
                 "freqload: input must be \"bytes\" or \"paths\", got \"" + input + "\"");
    paths_ = input == "paths";
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
    output_desc.resize(4);
    if (planes_)
      output_desc[0].shape = ::dali::uniform_list_shape(
          n, ::dali::TensorShape<>{static_cast<int64_t>(fl_recipe_out_elements(&recipe_))});
    else
      output_desc[0].shape = ::dali::uniform_list_shape(
          n, ::dali::TensorShape<>{recipe_.count, recipe_.out_h, recipe_.out_w});
    output_desc[0].type = DALI_INT16;
    output_desc[1].shape = ::dali::uniform_list_shape(n, ::dali::TensorShape<>{});
    output_desc[1].type = DALI_INT32;
    output_desc[2].shape = ::dali::uniform_list_shape(
        n, ::dali::TensorShape<>{planes_ ? FL_LAYOUT_INTS : 0});
    output_desc[2].type = DALI_INT32;
    output_desc[3].shape = ::dali::uniform_list_shape(n, ::dali::TensorShape<>{FL_MESSAGE_MAX});
    output_desc[3].type = DALI_UINT8;
    return true;
  }

  void RunImpl(::dali::Workspace &ws) override {
    const auto &in = ws.Input<::dali::CPUBackend>(0);
    auto &out = ws.Output<::dali::CPUBackend>(0);
    auto &status = ws.Output<::dali::CPUBackend>(1);
    auto &layouts = ws.Output<::dali::CPUBackend>(2);
    auto &messages = ws.Output<::dali::CPUBackend>(3);
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
    DALI_ENFORCE(keys != nullptr || recipe_.transform.kind != FL_TRANSFORM_TRAIN,
                 "freqload.jpeg_to_dct: transform=\"train\" needs the keys input");
    const int64_t *ranges = nullptr;  // optional third input: int64 (offset, length) per path
    std::vector<int64_t> range_values;
    if (ws.NumInput() > 2) {
      const auto &rg = ws.Input<::dali::CPUBackend>(2);
      DALI_ENFORCE(paths_, "freqload.jpeg_to_dct: the ranges input needs input=\"paths\"");
      DALI_ENFORCE(rg.type() == DALI_INT64 && rg.num_samples() == n,
                   "freqload.jpeg_to_dct: the third input must be int64 (offset, length) per "
                   "sample");
      range_values.resize(2 * static_cast<size_t>(n));
      for (int i = 0; i < n; i++) {
        DALI_ENFORCE(rg.tensor_shape(i).num_elements() == 2,
                     "freqload.jpeg_to_dct: one (offset, length) pair per sample");
        range_values[2 * i] = rg.tensor<int64_t>(i)[0];
        range_values[2 * i + 1] = rg.tensor<int64_t>(i)[1];
      }
      ranges = range_values.data();
    }
    EnsureDecoders(tp.NumThreads() + 1);
    std::vector<std::string> errors(n);
    for (int i = 0; i < n; i++) {
      const int64_t bytes = in.tensor_shape(i).num_elements();
      tp.AddWork(
          [&, i, bytes](int thread_id) {
            const size_t slot = static_cast<size_t>(thread_id + 1);
            char *msg = reinterpret_cast<char *>(messages.mutable_tensor<uint8_t>(i));
            std::memset(msg, 0, FL_MESSAGE_MAX);
            const uint8_t *data = in.tensor<uint8_t>(i);
            fl_item item{};
            item.key = keys ? static_cast<uint64_t>(keys[i]) : 0;
            std::string path;
            if (paths_) {  // the input is a file path: the core reads it (fl_read_file)
              // a batch of paths may come as one NUL-padded uint8 matrix: a path ends at
              // its first NUL (a path cannot contain one)
              const char *chars = reinterpret_cast<const char *>(data);
              path.assign(chars, strnlen(chars, static_cast<size_t>(bytes)));
              item.path = path.c_str();
              // a bad range (negative, past the end) is the sample's status, not the batch's
              item.offset = ranges ? ranges[2 * i] : 0;
              item.length = ranges ? ranges[2 * i + 1] : -1;
            } else {
              item.data = data;
              item.size = static_cast<size_t>(bytes);
            }
            // the core's batch entry point, one sample at a time on this thread (the
            // native engine's pool runs the same function); no decoder: a failed sample
            fl_batch_out o{out.mutable_tensor<int16_t>(i), 0, status.mutable_tensor<int32_t>(i),
                           planes_ ? layouts.mutable_tensor<int32_t>(i) : nullptr, msg};
            fl_decode_items(slot < decoders_.size() ? decoders_[slot] : nullptr, &recipe_,
                            &item, 1, &o, 0);
            if (*o.status != FL_OK)  // the core zeroed the output; the message goes out with it
              errors[i] = (path.empty() ? "" : path + ": ") + msg;
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
  void EnsureDecoders(size_t count) {
    while (decoders_.size() < count) {
      char message[FL_MESSAGE_MAX];
      fl_decoder *d = fl_decoder_new(message, sizeof message);
      DALI_ENFORCE(d != nullptr, std::string("freqload: ") + message);
      decoders_.push_back(d);
    }
  }

  fl_recipe recipe_{};
  bool raise_ = true, planes_ = false, paths_ = false;
  std::vector<fl_decoder *> decoders_;
};

}  // namespace freqload_dali

DALI_REGISTER_OPERATOR(freqload__JpegToDct, ::freqload_dali::JpegToDct, ::dali::CPU);

DALI_SCHEMA(freqload__JpegToDct)
    .DocStr(R"(Decodes JPEGs to DCT coefficients (no inverse DCT, no colour conversion) and
makes each the sample its recipe says: int16 [C, out_h, out_w], the channels of the mask
(channel k of the 192-channel grid is component*64 + 8*row + col), chroma aligned to the
luma block grid, the recipe's transform ("blocks": centre-cropped, MCU-aligned, or
zero-padded; "eval" and "train": resized in the DCT domain, "train" drawing its box and
flip from the second input, an int64 key per sample). With input="paths", an optional
third input gives each sample's byte range of its file, int64 (offset, length), length -1
meaning to the end: a member of a tar shard. The second output is the status of
each sample: 0 ok, 1 corrupt data, 2 unsupported image, 3 over a resource limit, 6
unreadable file. With a regroup="device" recipe the first output is instead the planes
before chroma alignment (int16, a fixed capacity of which the layout's 8th entry says how
many are used) and the third the layout (int32 [FL_LAYOUT_INTS]) that freqload.regroup
finishes on the device; with regroup="cpu" the third output is empty. The fourth output is
each sample's message (uint8 [FL_MESSAGE_MAX], NUL-terminated text, all zeros when the
sample is fine): libjpeg's and freqload's explanation of a non-zero status. freqload's
native core does the work.)")
    .NumInput(1, 3)
    .NumOutput(4)
    .AddArg("recipe",
            "The sample's recipe, packed: freqload.Recipe(...).dali_arg (mask, size, chroma, "
            "dequantize, transform and its parameters, regroup, strict, limits, "
            "partial_decode, orientation: the EXIF-upright picture's sample or the stored "
            "one; see freqload.recipe).",
            DALI_INT_VEC)
    .AddOptionalArg("on_error",
                    "\"raise\": a bad sample fails the batch, naming the file; \"flag\": it is "
                    "zeros with a non-zero status.",
                    std::string("raise"))
    .AddOptionalArg("input",
                    "\"bytes\": the input is encoded JPEG data; \"paths\": it is a file path "
                    "(UTF-8 bytes, ending at the first NUL, so a batch may be one NUL-padded "
                    "matrix), read on the operator's thread (status 6 when unreadable).",
                    std::string("bytes"));
