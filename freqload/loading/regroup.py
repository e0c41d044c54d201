"""Finish samples on the device: chroma alignment and masking from native-resolution planes.

With ``DCTLoader(regroup="device")`` the host stops before chroma alignment:
the core's ``fl_sample_planes`` writes, per sample, the masked luma channels
of the crop window and, per chroma component, either its masked channels on
its own grid (not subsampled, or ``chroma="nearest"``) or all 64 quantised
coefficients of its cropped grid (subsampled, ``chroma="dct"``). This module
turns a batch of those into the int16 ``[B, C, out_h, out_w]`` that
``regroup="cpu"`` produces, in torch, on whatever device the tensors are on.

Equality with the CPU path is exact, not approximate: the code below repeats
``fl_channels.c`` operation by operation in float32, the same multiplies and
adds in the same order (torch runs each as its own rounded operation; the C
core is compiled with ``-ffp-contract=off`` so it fuses none either), with the
C core's own tables (``upsample_tables``).
"""
from __future__ import annotations

from collections import defaultdict

import numpy as np
import torch

from .._core import sample_planes, upsample_tables
from ..codec.recipe import Recipe
from .host_batch import LAYOUT_INTS, layout_view
from .host_batch import PLANES_CHANNELS as CHANNELS
from .host_batch import PLANES_NONE as NONE


def parse_layout(v) -> dict:
    """One layout (int32 [LAYOUT_INTS], fl_layout_pack) as a dict of its named fields."""
    r = layout_view(v)[0]
    out: dict = {name: int(r[name]) for name in ("y0", "x0", "rows", "cols", "dy", "dx",
                                            "num_components", "total")}
    out["groups"] = [{k: int(g[k]) for k in g.dtype.names} for g in r["groups"]]
    return out


class DeviceRegroup:
    """Callable: (payloads, layouts) of a batch -> int16 [B, C, out_h, out_w] on their device.

    Args:
        spec: the loader's Recipe (mask, size, chroma, dequantize).
    """

    def __init__(self, spec: Recipe):
        self.spec = spec
        comp, coef = (np.frombuffer(b, dtype=np.uint8)
                      for b in spec.channel_mask.component_arrays())
        #: per component: (output channel numbers, raster indices), in mask order
        self.select = [(np.nonzero(comp == c)[0], coef[comp == c].astype(np.int64))
                       for c in range(3)]
        self._tables: dict = {}
        self.last_bytes = 0  #: bytes the last call moved to the device itself (quant tables)

    def tables(self, f: int, device):
        key = (f, str(device))
        if key not in self._tables:
            A, P, N, first, last = (np.frombuffer(b, dtype=np.float32).copy()
                                    for b in upsample_tables(f))
            self._tables[key] = (A.reshape(4, 8, 8), P.reshape(4, 8), N.reshape(4, 8), first, last)
        return self._tables[key]

    def __call__(self, payload: torch.Tensor, offsets: np.ndarray, layouts: np.ndarray
                 ) -> torch.Tensor:
        """payload: int16 [total] (samples' planes back to back); offsets: int64 [B] start of
        each sample in it; layouts: int32 [B, LAYOUT_INTS] (host)."""
        s = self.spec
        B = len(offsets)
        dev = payload.device
        out = torch.zeros((B, s.channels, s.out_h, s.out_w), dtype=torch.int16, device=dev)
        parsed = [parse_layout(layouts[b]) for b in range(B)]
        self.last_bytes = 0
        for c in range(3):
            chans, coefs = self.select[c]
            if len(chans) == 0:
                continue
            groups = defaultdict(list)
            for b, L in enumerate(parsed):
                g = L["groups"][c]
                if g["kind"] == NONE:
                    continue
                key = (g["kind"], g["count"], g["h"], g["w"], g["fv"], g["fh"], L["rows"],
                       L["cols"], L["dy"], L["dx"])
                groups[key].append(b)
            for key, members in groups.items():
                kind, count, h, w, fv, fh, rows, cols, dy, dx = key
                n = count * h * w
                starts = [int(offsets[b]) + parsed[b]["groups"][c]["offset"] for b in members]
                planes = torch.stack([payload[st:st + n] for st in starts]).view(-1, count, h, w)
                bidx = torch.as_tensor(members, device=dev)
                ch = torch.as_tensor(chans, device=dev)
                if kind == CHANNELS:
                    iy = torch.clamp(torch.arange(rows, device=dev) // fv, max=h - 1)
                    ix = torch.clamp(torch.arange(cols, device=dev) // fh, max=w - 1)
                    vals = planes[:, :, iy][:, :, :, ix]
                else:
                    qh = layout_view(layouts)["quant"][members, c].astype(np.int16)
                    self.last_bytes += qh.nbytes
                    q = torch.from_numpy(qh).to(dev).to(torch.float32)
                    vals = self._upsample(planes, q, coefs, fv, fh, rows, cols)
                out[bidx[:, None], ch[None, :], dy:dy + rows, dx:dx + cols] = vals
        return out

    def _upsample(self, planes, q, coefs, fv, fh, H, W):
        """fl_channels.c write_upsampled, vectorised over samples and blocks.

        planes: int16 [G, 64, Hc, Wc] quantised; q: float32 [G, 64] -> int16 [G, n, H, W]."""
        dev = planes.device
        G, _, Hc, Wc = planes.shape
        Av, Pv, Nv, first, last = self.tables(fv, dev)
        Ah, Ph, Nh, _, _ = self.tables(fh, dev)
        # dequantize_block: (float)coef * (float)q
        X = (planes.to(torch.float32) * q[:, :, None, None]).view(G, 8, 8, Hc, Wc)  # [G,r,h,y,x]
        us = sorted({int(k) >> 3 for k in coefs})
        T = {}  # u -> float32 [G, 8(h), R, Wc], R luma rows of the window
        if fv == 1:
            for u in us:
                T[u] = X[:, u]
        else:
            Fs = torch.zeros((G, 8, Hc, Wc), dtype=torch.float32, device=dev)  # first sample row
            Ls = torch.zeros_like(Fs)                                          # last sample row
            for r in range(8):
                Fs = Fs + float(first[r]) * X[:, r]
            for r in range(8):
                Ls = Ls + float(last[r]) * X[:, r]
            # Sp: the block above's last row (replicate the block's own first at the top);
            # Sn: the block below's first row (the block's own last at the bottom)
            Sp = torch.cat([Fs[:, :, :1], Ls[:, :, :-1]], dim=2)
            Sn = torch.cat([Fs[:, :, 1:], Ls[:, :, -1:]], dim=2)
            for u in us:
                rows = []
                for jy in range(fv):
                    a = float(Pv[jy, u]) * Sp + float(Nv[jy, u]) * Sn
                    for r in range(8):
                        a = a + float(Av[jy, u, r]) * X[:, r]
                    rows.append(a)
                T[u] = torch.stack(rows, dim=3).reshape(G, 8, Hc * fv, Wc)
        R = min(H, T[us[0]].shape[2])
        for u in us:
            t = T[u][:, :, :R]
            if H > R:  # luma rows past the chroma grid repeat the last one (as in C)
                t = torch.cat([t, t[:, :, -1:].expand(G, 8, H - R, Wc)], dim=2)
            T[u] = t
        ox = torch.arange(W, device=dev)
        ccx = torch.clamp(ox // fh, max=Wc - 1)
        jx = (ox % fh).cpu().numpy()
        outs = []
        if fh > 1:
            TF, TL = {}, {}
            for u in us:
                a = torch.zeros((G, H, Wc), dtype=torch.float32, device=dev)
                b = torch.zeros_like(a)
                for h in range(8):
                    a = a + float(first[h]) * T[u][:, h]
                    b = b + float(last[h]) * T[u][:, h]
                TF[u], TL[u] = a, b
        for k in coefs:
            u, w = int(k) >> 3, int(k) & 7
            if fh == 1:
                val = T[u][:, w][:, :, ccx]
            else:
                left = torch.cat([TF[u][:, :, :1], TL[u][:, :, :-1]], dim=2)[:, :, ccx]
                right = torch.cat([TF[u][:, :, 1:], TL[u][:, :, -1:]], dim=2)[:, :, ccx]
                pw = torch.as_tensor(Ph[jx, w], device=dev)
                nw = torch.as_tensor(Nh[jx, w], device=dev)
                val = pw * left + nw * right
                tsel = T[u][:, :, :, ccx]  # [G, 8, H, W]
                for h in range(8):
                    val = val + torch.as_tensor(Ah[jx, w, h], device=dev) * tsel[:, h]
            if not self.spec.dequantize:
                val = val / q[:, k][:, None, None]
            r = torch.where(val >= 0, val + 0.5, val - 0.5)
            outs.append(torch.clamp(r, -32768.0, 32767.0).to(torch.int16))
        return torch.stack(outs, dim=1)


def planes_from_coefficients(coeffs, spec: Recipe, *, out: np.ndarray | None = None,
                             layout: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """fl_sample_planes on a Coefficients object: (int16 payload [total], int32 layout
    [LAYOUT_INTS]); written into ``out`` (int16 [spec.out_elements]) and ``layout`` when
    given (a batch slot), the payload then being a view of ``out``."""
    comps = [c if c.strides[1:] == (128, 2) else np.ascontiguousarray(c)
             for c in coeffs.components]
    quant = [np.ascontiguousarray(q, dtype=np.uint16) for q in coeffs.quant_tables[:len(comps)]]
    sampling = [(ci.h_samp, ci.v_samp) for ci in coeffs.info.components[:len(comps)]]
    payload = np.empty(spec.out_elements, dtype=np.int16) if out is None else out
    layout = np.zeros(LAYOUT_INTS, dtype=np.int32) if layout is None else layout
    info = coeffs.info
    sample_planes(comps, sampling, quant, spec.packed, payload, layout, info.width,
                        info.height, info.orientation)
    return payload[:int(layout_view(layout)["total"][0])], layout
