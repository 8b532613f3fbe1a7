"""The seven HAM10000 diagnoses, in the one order every module uses.

Label index ``i`` is ``CLASSES[i]`` (alphabetical, as in the paper's Table 2). Files in the
ISIC 2018 Task 3 format use upper-case codes in ``ISIC_COLUMNS`` order; convert with
``ISIC_CODE`` and ``FROM_ISIC``.
"""

CLASSES: tuple[str, ...] = ("akiec", "bcc", "bkl", "df", "mel", "nv", "vasc")
NUM_CLASSES = len(CLASSES)
CLASS_NAMES: dict[str, str] = {
    "akiec": "Actinic keratoses",
    "bcc": "Basal cell carcinoma",
    "bkl": "Benign keratosis-like lesions",
    "df": "Dermatofibroma",
    "mel": "Melanoma",
    "nv": "Melanocytic nevi",
    "vasc": "Vascular lesions",
}
ISIC_COLUMNS: tuple[str, ...] = ("MEL", "NV", "BCC", "AKIEC", "BKL", "DF", "VASC")
ISIC_CODE: dict[str, str] = {c: c.upper() for c in CLASSES}
FROM_ISIC: dict[str, str] = {v: k for k, v in ISIC_CODE.items()}
