"""What a backend runs on real kernels, as search-space knob values (``deployable:``)."""
from __future__ import annotations

from ..errors import AutoqError
from ..settings import KNOBS
from .registry import all_kernels, backend_names


def deployable_choices(backend: str, kind: type | None = None) -> dict[str, tuple]:
    """Knob -> allowed values for layers that ``backend`` runs on low-precision kernels
    (no fallback). ``backend`` is a backend name (fbgemm, onednn, torchao, fp16) or a
    device (cpu, cuda: every backend available there). Values are the union over the
    backend's kernels (with ``kind``, a module class, over those that run it: a Conv2d
    runs on the int8 conv, static activations only); a knob no kernel constrains is
    absent (anything goes). With ``activations: dynamic`` the torch and torchao kernels
    take each batch's full range, so only ``clip_acts: NONE`` is exact there.
    """
    kernels = [k for k in all_kernels() if k.low_precision and k.available()]
    picked = [k for k in kernels if k.backend == backend or backend in k.devices]
    if not picked:
        names = [b for b in backend_names() if b != "packed"]
        raise AutoqError(f"deployable: {backend!r} is not a backend or device with kernels here "
                         f"(allowed: {', '.join(names)}, cpu, cuda)")
    if kind is not None:
        picked = [k for k in picked if issubclass(kind, k.kinds)]
        if not picked:
            raise AutoqError(f"deployable: no {backend} kernel runs a {kind.__name__}")
    out: dict[str, tuple] = {}
    for knob in KNOBS:
        values = [v for k in picked for v in k.choices.get(knob, ())]
        if values:
            out[knob] = tuple(dict.fromkeys(values))
    return out
