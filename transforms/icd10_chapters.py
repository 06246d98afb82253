"""ICD-10 chapters (WHO 2019 edition, the structure the Vietnamese list follows): code -> chapter.

Pure functions over Arrow arrays: no I/O. A code's chapter is decided by its first three
characters (letter + two digits) against the chapter block ranges.
"""

from __future__ import annotations

import pyarrow as pa

#: chapter -> (first block, last block, Vietnamese title, English title)
CHAPTERS: dict[str, tuple[str, str, str, str]] = {
    "I": ("A00", "B99", "Bệnh nhiễm trùng và ký sinh trùng", "Certain infectious and parasitic diseases"),
    "II": ("C00", "D48", "Khối u", "Neoplasms"),
    "III": ("D50", "D89", "Bệnh của máu, cơ quan tạo máu và miễn dịch",
            "Diseases of the blood and blood-forming organs and the immune mechanism"),
    "IV": ("E00", "E90", "Bệnh nội tiết, dinh dưỡng và chuyển hoá", "Endocrine, nutritional and metabolic diseases"),
    "V": ("F00", "F99", "Rối loạn tâm thần và hành vi", "Mental and behavioural disorders"),
    "VI": ("G00", "G99", "Bệnh hệ thần kinh", "Diseases of the nervous system"),
    "VII": ("H00", "H59", "Bệnh mắt và phần phụ", "Diseases of the eye and adnexa"),
    "VIII": ("H60", "H95", "Bệnh tai và xương chũm", "Diseases of the ear and mastoid process"),
    "IX": ("I00", "I99", "Bệnh hệ tuần hoàn", "Diseases of the circulatory system"),
    "X": ("J00", "J99", "Bệnh hệ hô hấp", "Diseases of the respiratory system"),
    "XI": ("K00", "K93", "Bệnh hệ tiêu hoá", "Diseases of the digestive system"),
    "XII": ("L00", "L99", "Bệnh da và mô dưới da", "Diseases of the skin and subcutaneous tissue"),
    "XIII": ("M00", "M99", "Bệnh hệ cơ xương khớp và mô liên kết",
             "Diseases of the musculoskeletal system and connective tissue"),
    "XIV": ("N00", "N99", "Bệnh hệ sinh dục - tiết niệu", "Diseases of the genitourinary system"),
    "XV": ("O00", "O99", "Thai nghén, sinh đẻ và hậu sản", "Pregnancy, childbirth and the puerperium"),
    "XVI": ("P00", "P96", "Một số bệnh lý xuất phát trong thời kỳ chu sinh",
            "Certain conditions originating in the perinatal period"),
    "XVII": ("Q00", "Q99", "Dị tật bẩm sinh và bất thường nhiễm sắc thể",
             "Congenital malformations, deformations and chromosomal abnormalities"),
    "XVIII": ("R00", "R99", "Triệu chứng, dấu hiệu và phát hiện bất thường",
              "Symptoms, signs and abnormal clinical and laboratory findings"),
    "XIX": ("S00", "T98", "Vết thương, ngộ độc và hậu quả của nguyên nhân bên ngoài",
            "Injury, poisoning and certain other consequences of external causes"),
    "XX": ("V01", "Y98", "Nguyên nhân bên ngoài của bệnh tật và tử vong", "External causes of morbidity and mortality"),
    "XXI": ("Z00", "Z99", "Các yếu tố ảnh hưởng đến sức khoẻ và tiếp xúc dịch vụ y tế",
            "Factors influencing health status and contact with health services"),
    "XXII": ("U00", "U85", "Mã dùng cho mục đích đặc biệt", "Codes for special purposes"),
}


def chapter_of(code: str | None) -> str | None:
    """The chapter (Roman numeral) of one code, or None when it is not an ICD-10 code shape."""
    if not code:
        return None
    block = code.strip().upper().replace(".", "")[:3]
    if len(block) != 3 or not block[0].isalpha() or not block[1:].isdigit():
        return None
    for chapter, (first, last, _vi, _en) in CHAPTERS.items():
        if first <= block <= last:
            return chapter
    return None


def split_list(text: pa.Array | pa.ChunkedArray, separator: str) -> pa.Array:
    """``'A41.9; I10'`` -> ``['A41.9', 'I10']`` (trimmed, empty parts dropped, NULL stays NULL)."""
    values = text.to_pylist()
    return pa.array([None if v is None else [x.strip() for x in str(v).split(separator) if x.strip()]
                     for v in values], pa.list_(pa.string()))


def first_chapter(codes: pa.Array) -> pa.Array:
    """The chapter of the first code of each list (``list<string>`` in, ``string`` out)."""
    firsts = [v[0] if v else None for v in codes.to_pylist()]
    uniques = {c: chapter_of(c) for c in set(firsts) if c}
    return pa.array([uniques.get(c) if c else None for c in firsts], pa.string())
