"""Pictures as files and pixels: which formats are accepted (by first bytes), their size read
from the header before any decode (``header``), bounded reading and decoding (``files``),
and face detection and embedding with the YuNet and SFace models (``vision``).

The lowest layer but ``core``: the picture estimators, the picture tasks, the server's
uploads and ``watch`` all read pictures through here, under the same limits."""
