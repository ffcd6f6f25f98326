"""CTCAE v5.0 grades against the published thresholds, on each side of every boundary.

Source: Common Terminology Criteria for Adverse Events (CTCAE) v5.0, US Department of Health
and Human Services, NCI, published 27 November 2017. Each line below quotes the published
wording of the grade it tests. Grades CTCAE defines by clinical consequences only (grade 4
anemia or hypoalbuminemia, grade 2 hypokalemia "symptomatic") cannot come from a value alone.
"""

from __future__ import annotations

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from carnet.core.ctcae import (
    TERMS,
    UnknownTerm,
    analyte_grade,
    corrected_calcium,
    ctcae_grade,
)
from carnet.laboratory.frames import graded

# (term, unit, uln, lln, baseline, value, grade)
TABLE: list[tuple[str, str, float | None, float | None, float | None, float, int]] = [
    # Anemia: G1 <LLN - 10.0 g/dL; <LLN - 6.2 mmol/L; <LLN - 100 g/L. G2 <10.0 - 8.0 g/dL;
    # <6.2 - 4.9 mmol/L; <100 - 80 g/L. G3 <8.0 g/dL; <4.9 mmol/L; <80 g/L.
    ("anemia", "g/dL", None, 12.0, None, 12.0, 0),
    ("anemia", "g/dL", None, 12.0, None, 11.9, 1),
    ("anemia", "g/dL", None, 12.0, None, 10.0, 1),
    ("anemia", "g/dL", None, 12.0, None, 9.9, 2),
    ("anemia", "g/dL", None, 12.0, None, 8.0, 2),
    ("anemia", "g/dL", None, 12.0, None, 7.9, 3),
    ("anemia", "g/L", None, 120, None, 100, 1),
    ("anemia", "g/L", None, 120, None, 99, 2),
    ("anemia", "g/L", None, 120, None, 80, 2),
    ("anemia", "g/L", None, 120, None, 79, 3),
    ("anemia", "mmol/L", None, 7.4, None, 6.2, 1),
    ("anemia", "mmol/L", None, 7.4, None, 6.1, 2),
    ("anemia", "mmol/L", None, 7.4, None, 4.9, 2),
    ("anemia", "mmol/L", None, 7.4, None, 4.8, 3),
    # Neutrophil count decreased: G1 <LLN - 1500/mm3; G2 <1500 - 1000/mm3; G3 <1000 - 500/mm3;
    # G4 <500/mm3.
    ("neutrophil_count_decreased", "10^9/L", None, 1.8, None, 1.8, 0),
    ("neutrophil_count_decreased", "10^9/L", None, 1.8, None, 1.79, 1),
    ("neutrophil_count_decreased", "10^9/L", None, 1.8, None, 1.5, 1),
    ("neutrophil_count_decreased", "10^9/L", None, 1.8, None, 1.49, 2),
    ("neutrophil_count_decreased", "10^9/L", None, 1.8, None, 1.0, 2),
    ("neutrophil_count_decreased", "10^9/L", None, 1.8, None, 0.99, 3),
    ("neutrophil_count_decreased", "10^9/L", None, 1.8, None, 0.5, 3),
    ("neutrophil_count_decreased", "10^9/L", None, 1.8, None, 0.49, 4),
    ("neutrophil_count_decreased", "/mm³", None, 1800, None, 1500, 1),
    ("neutrophil_count_decreased", "/mm³", None, 1800, None, 1499, 2),
    ("neutrophil_count_decreased", "/mm³", None, 1800, None, 499, 4),
    # Platelet count decreased: G1 <LLN - 75,000/mm3; G2 <75,000 - 50,000; G3 <50,000 -
    # 25,000; G4 <25,000/mm3.
    ("platelet_count_decreased", "10^9/L", None, 150, None, 150, 0),
    ("platelet_count_decreased", "10^9/L", None, 150, None, 149, 1),
    ("platelet_count_decreased", "10^9/L", None, 150, None, 75, 1),
    ("platelet_count_decreased", "10^9/L", None, 150, None, 74, 2),
    ("platelet_count_decreased", "10^9/L", None, 150, None, 50, 2),
    ("platelet_count_decreased", "10^9/L", None, 150, None, 49, 3),
    ("platelet_count_decreased", "10^9/L", None, 150, None, 25, 3),
    ("platelet_count_decreased", "10^9/L", None, 150, None, 24, 4),
    # Lymphocyte count decreased: G1 <LLN - 800/mm3; G2 <800 - 500; G3 <500 - 200; G4 <200.
    ("lymphocyte_count_decreased", "10^9/L", None, 1.0, None, 1.0, 0),
    ("lymphocyte_count_decreased", "10^9/L", None, 1.0, None, 0.8, 1),
    ("lymphocyte_count_decreased", "10^9/L", None, 1.0, None, 0.79, 2),
    ("lymphocyte_count_decreased", "10^9/L", None, 1.0, None, 0.5, 2),
    ("lymphocyte_count_decreased", "10^9/L", None, 1.0, None, 0.49, 3),
    ("lymphocyte_count_decreased", "10^9/L", None, 1.0, None, 0.2, 3),
    ("lymphocyte_count_decreased", "10^9/L", None, 1.0, None, 0.19, 4),
    # Lymphocyte count increased: G2 >4000/mm3 - 20,000/mm3; G3 >20,000/mm3.
    ("lymphocyte_count_increased", "10^9/L", 4.0, None, None, 4.0, 0),
    ("lymphocyte_count_increased", "10^9/L", 4.0, None, None, 4.01, 2),
    ("lymphocyte_count_increased", "10^9/L", 4.0, None, None, 20.0, 2),
    ("lymphocyte_count_increased", "10^9/L", 4.0, None, None, 20.01, 3),
    # White blood cell decreased: G1 <LLN - 3000/mm3; G2 <3000 - 2000; G3 <2000 - 1000;
    # G4 <1000/mm3.
    ("white_blood_cell_decreased", "10^9/L", None, 4.0, None, 4.0, 0),
    ("white_blood_cell_decreased", "10^9/L", None, 4.0, None, 3.0, 1),
    ("white_blood_cell_decreased", "10^9/L", None, 4.0, None, 2.99, 2),
    ("white_blood_cell_decreased", "10^9/L", None, 4.0, None, 2.0, 2),
    ("white_blood_cell_decreased", "10^9/L", None, 4.0, None, 1.99, 3),
    ("white_blood_cell_decreased", "10^9/L", None, 4.0, None, 1.0, 3),
    ("white_blood_cell_decreased", "10^9/L", None, 4.0, None, 0.99, 4),
    # Creatinine increased: G1 >ULN - 1.5 x ULN; G2 >1.5 - 3.0 x baseline; >1.5 - 3.0 x ULN;
    # G3 >3.0 x baseline; >3.0 - 6.0 x ULN; G4 >6.0 x ULN.
    ("creatinine_increased", "µmol/L", 100, None, None, 100, 0),
    ("creatinine_increased", "µmol/L", 100, None, None, 101, 1),
    ("creatinine_increased", "µmol/L", 100, None, None, 150, 1),
    ("creatinine_increased", "µmol/L", 100, None, None, 151, 2),
    ("creatinine_increased", "µmol/L", 100, None, None, 300, 2),
    ("creatinine_increased", "µmol/L", 100, None, None, 301, 3),
    ("creatinine_increased", "µmol/L", 100, None, None, 600, 3),
    ("creatinine_increased", "µmol/L", 100, None, None, 601, 4),
    ("creatinine_increased", "µmol/L", 100, None, 40, 60, 0),  # 1.5 x baseline, below ULN
    ("creatinine_increased", "µmol/L", 100, None, 40, 61, 2),  # >1.5 x baseline
    ("creatinine_increased", "µmol/L", 100, None, 40, 120, 2),  # 3.0 x baseline
    ("creatinine_increased", "µmol/L", 100, None, 40, 121, 3),  # >3.0 x baseline
    ("creatinine_increased", "mg/dL", 1.0, None, None, 6.01, 4),
    # Blood bilirubin increased: G1 >ULN - 1.5 x ULN if baseline was normal; >1.0 - 1.5 x
    # baseline if baseline was abnormal. G2 >1.5 - 3.0 x ULN / x baseline; G3 >3.0 - 10.0;
    # G4 >10.0.
    ("blood_bilirubin_increased", "µmol/L", 20, None, None, 20, 0),
    ("blood_bilirubin_increased", "µmol/L", 20, None, None, 21, 1),
    ("blood_bilirubin_increased", "µmol/L", 20, None, None, 30, 1),
    ("blood_bilirubin_increased", "µmol/L", 20, None, None, 31, 2),
    ("blood_bilirubin_increased", "µmol/L", 20, None, None, 60, 2),
    ("blood_bilirubin_increased", "µmol/L", 20, None, None, 61, 3),
    ("blood_bilirubin_increased", "µmol/L", 20, None, None, 200, 3),
    ("blood_bilirubin_increased", "µmol/L", 20, None, None, 201, 4),
    ("blood_bilirubin_increased", "µmol/L", 20, None, 15, 31, 2),  # normal baseline: x ULN
    ("blood_bilirubin_increased", "µmol/L", 20, None, 40, 40, 0),  # abnormal: x baseline
    ("blood_bilirubin_increased", "µmol/L", 20, None, 40, 41, 1),
    ("blood_bilirubin_increased", "µmol/L", 20, None, 40, 60, 1),
    ("blood_bilirubin_increased", "µmol/L", 20, None, 40, 61, 2),
    ("blood_bilirubin_increased", "µmol/L", 20, None, 40, 120, 2),
    ("blood_bilirubin_increased", "µmol/L", 20, None, 40, 121, 3),
    ("blood_bilirubin_increased", "µmol/L", 20, None, 40, 400, 3),
    ("blood_bilirubin_increased", "µmol/L", 20, None, 40, 401, 4),
    # ALT increased: G1 >ULN - 3.0 x ULN if baseline was normal; 1.5 - 3.0 x baseline if
    # baseline was abnormal. G2 >3.0 - 5.0; G3 >5.0 - 20.0; G4 >20.0 (x ULN / x baseline).
    ("alanine_aminotransferase_increased", "U/L", 40, None, None, 40, 0),
    ("alanine_aminotransferase_increased", "U/L", 40, None, None, 41, 1),
    ("alanine_aminotransferase_increased", "U/L", 40, None, None, 120, 1),
    ("alanine_aminotransferase_increased", "U/L", 40, None, None, 121, 2),
    ("alanine_aminotransferase_increased", "U/L", 40, None, None, 200, 2),
    ("alanine_aminotransferase_increased", "U/L", 40, None, None, 201, 3),
    ("alanine_aminotransferase_increased", "U/L", 40, None, None, 800, 3),
    ("alanine_aminotransferase_increased", "U/L", 40, None, None, 801, 4),
    ("alanine_aminotransferase_increased", "U/L", 40, None, 40, 41, 1),  # ULN is normal
    ("alanine_aminotransferase_increased", "U/L", 40, None, 60, 89, 0),
    ("alanine_aminotransferase_increased", "U/L", 40, None, 60, 90, 1),  # 1.5 x, included
    ("alanine_aminotransferase_increased", "U/L", 40, None, 60, 180, 1),
    ("alanine_aminotransferase_increased", "U/L", 40, None, 60, 181, 2),
    ("alanine_aminotransferase_increased", "U/L", 40, None, 60, 300, 2),
    ("alanine_aminotransferase_increased", "U/L", 40, None, 60, 301, 3),
    ("alanine_aminotransferase_increased", "U/L", 40, None, 60, 1200, 3),
    ("alanine_aminotransferase_increased", "U/L", 40, None, 60, 1201, 4),
    # AST increased: as ALT.
    ("aspartate_aminotransferase_increased", "U/L", 35, None, None, 35, 0),
    ("aspartate_aminotransferase_increased", "U/L", 35, None, None, 105, 1),
    ("aspartate_aminotransferase_increased", "U/L", 35, None, None, 106, 2),
    ("aspartate_aminotransferase_increased", "U/L", 35, None, None, 175, 2),
    ("aspartate_aminotransferase_increased", "U/L", 35, None, None, 176, 3),
    ("aspartate_aminotransferase_increased", "U/L", 35, None, None, 700, 3),
    ("aspartate_aminotransferase_increased", "U/L", 35, None, None, 701, 4),
    ("aspartate_aminotransferase_increased", "U/L", 35, None, 70, 104, 0),
    ("aspartate_aminotransferase_increased", "U/L", 35, None, 70, 105, 1),
    # Alkaline phosphatase increased: G1 >ULN - 2.5 x ULN if baseline was normal; 2.0 - 2.5 x
    # baseline if baseline was abnormal. G2 >2.5 - 5.0; G3 >5.0 - 20.0; G4 >20.0.
    ("alkaline_phosphatase_increased", "U/L", 100, None, None, 100, 0),
    ("alkaline_phosphatase_increased", "U/L", 100, None, None, 250, 1),
    ("alkaline_phosphatase_increased", "U/L", 100, None, None, 251, 2),
    ("alkaline_phosphatase_increased", "U/L", 100, None, None, 500, 2),
    ("alkaline_phosphatase_increased", "U/L", 100, None, None, 501, 3),
    ("alkaline_phosphatase_increased", "U/L", 100, None, None, 2000, 3),
    ("alkaline_phosphatase_increased", "U/L", 100, None, None, 2001, 4),
    ("alkaline_phosphatase_increased", "U/L", 100, None, 200, 399, 0),
    ("alkaline_phosphatase_increased", "U/L", 100, None, 200, 400, 1),
    ("alkaline_phosphatase_increased", "U/L", 100, None, 200, 500, 1),
    ("alkaline_phosphatase_increased", "U/L", 100, None, 200, 501, 2),
    ("alkaline_phosphatase_increased", "U/L", 100, None, 200, 4001, 4),
    # GGT increased: as alkaline phosphatase.
    ("ggt_increased", "U/L", 60, None, None, 150, 1),
    ("ggt_increased", "U/L", 60, None, None, 151, 2),
    ("ggt_increased", "U/L", 60, None, None, 1201, 4),
    ("ggt_increased", "U/L", 60, None, 100, 199, 0),
    ("ggt_increased", "U/L", 60, None, 100, 200, 1),
    # CPK increased: G1 >ULN - 2.5 x ULN; G2 >2.5 - 5.0; G3 >5.0 - 10.0; G4 >10.0 x ULN.
    ("cpk_increased", "U/L", 200, None, None, 200, 0),
    ("cpk_increased", "U/L", 200, None, None, 500, 1),
    ("cpk_increased", "U/L", 200, None, None, 501, 2),
    ("cpk_increased", "U/L", 200, None, None, 1001, 3),
    ("cpk_increased", "U/L", 200, None, None, 2000, 3),
    ("cpk_increased", "U/L", 200, None, None, 2001, 4),
    # INR increased (not on anticoagulation): G1 >1.2 - 1.5; G2 >1.5 - 2.5; G3 >2.5.
    ("inr_increased", "ratio", None, None, None, 1.2, 0),
    ("inr_increased", "ratio", None, None, None, 1.21, 1),
    ("inr_increased", "ratio", None, None, None, 1.5, 1),
    ("inr_increased", "ratio", None, None, None, 1.51, 2),
    ("inr_increased", "ratio", None, None, None, 2.5, 2),
    ("inr_increased", "ratio", None, None, None, 2.51, 3),
    # Hyperkalemia: G1 >ULN - 5.5 mmol/L; G2 >5.5 - 6.0; G3 >6.0 - 7.0; G4 >7.0.
    ("hyperkalemia", "mmol/L", 5.0, None, None, 5.0, 0),
    ("hyperkalemia", "mmol/L", 5.0, None, None, 5.1, 1),
    ("hyperkalemia", "mmol/L", 5.0, None, None, 5.5, 1),
    ("hyperkalemia", "mmol/L", 5.0, None, None, 5.6, 2),
    ("hyperkalemia", "mmol/L", 5.0, None, None, 6.0, 2),
    ("hyperkalemia", "mmol/L", 5.0, None, None, 6.1, 3),
    ("hyperkalemia", "mmol/L", 5.0, None, None, 7.0, 3),
    ("hyperkalemia", "mmol/L", 5.0, None, None, 7.1, 4),
    ("hyperkalemia", "mEq/L", 5.0, None, None, 7.1, 4),
    # Hypokalemia: G1 <LLN - 3.0 mmol/L (G2 the same with symptoms); G3 <3.0 - 2.5; G4 <2.5.
    ("hypokalemia", "mmol/L", None, 3.5, None, 3.5, 0),
    ("hypokalemia", "mmol/L", None, 3.5, None, 3.4, 1),
    ("hypokalemia", "mmol/L", None, 3.5, None, 3.0, 1),
    ("hypokalemia", "mmol/L", None, 3.5, None, 2.9, 3),
    ("hypokalemia", "mmol/L", None, 3.5, None, 2.5, 3),
    ("hypokalemia", "mmol/L", None, 3.5, None, 2.4, 4),
    # Hypernatremia: G1 >ULN - 150 mmol/L; G2 >150 - 155; G3 >155 - 160; G4 >160.
    ("hypernatremia", "mmol/L", 145, None, None, 145, 0),
    ("hypernatremia", "mmol/L", 145, None, None, 146, 1),
    ("hypernatremia", "mmol/L", 145, None, None, 150, 1),
    ("hypernatremia", "mmol/L", 145, None, None, 151, 2),
    ("hypernatremia", "mmol/L", 145, None, None, 155, 2),
    ("hypernatremia", "mmol/L", 145, None, None, 156, 3),
    ("hypernatremia", "mmol/L", 145, None, None, 160, 3),
    ("hypernatremia", "mmol/L", 145, None, None, 161, 4),
    # Hyponatremia: G1 <LLN - 130 mmol/L; G2 125-129 mmol/L and asymptomatic; G3 125-129
    # symptomatic, 120-124 regardless of symptoms; G4 <120 mmol/L.
    ("hyponatremia", "mmol/L", None, 135, None, 135, 0),
    ("hyponatremia", "mmol/L", None, 135, None, 134, 1),
    ("hyponatremia", "mmol/L", None, 135, None, 130, 1),
    ("hyponatremia", "mmol/L", None, 135, None, 129, 2),
    ("hyponatremia", "mmol/L", None, 135, None, 125, 2),
    ("hyponatremia", "mmol/L", None, 135, None, 124, 3),
    ("hyponatremia", "mmol/L", None, 135, None, 120, 3),
    ("hyponatremia", "mmol/L", None, 135, None, 119, 4),
    # Hypercalcemia: G1 corrected serum calcium >ULN - 11.5 mg/dL; >ULN - 2.9 mmol/L. G2 >11.5 -
    # 12.5 mg/dL; >2.9 - 3.1 mmol/L. G3 >12.5 - 13.5 mg/dL; >3.1 - 3.4 mmol/L. G4 >13.5 mg/dL;
    # >3.4 mmol/L.
    ("hypercalcemia", "mmol/L", 2.6, None, None, 2.6, 0),
    ("hypercalcemia", "mmol/L", 2.6, None, None, 2.9, 1),
    ("hypercalcemia", "mmol/L", 2.6, None, None, 2.91, 2),
    ("hypercalcemia", "mmol/L", 2.6, None, None, 3.1, 2),
    ("hypercalcemia", "mmol/L", 2.6, None, None, 3.11, 3),
    ("hypercalcemia", "mmol/L", 2.6, None, None, 3.4, 3),
    ("hypercalcemia", "mmol/L", 2.6, None, None, 3.41, 4),
    ("hypercalcemia", "mg/dL", 10.4, None, None, 11.5, 1),
    ("hypercalcemia", "mg/dL", 10.4, None, None, 11.6, 2),
    ("hypercalcemia", "mg/dL", 10.4, None, None, 12.5, 2),
    ("hypercalcemia", "mg/dL", 10.4, None, None, 12.6, 3),
    ("hypercalcemia", "mg/dL", 10.4, None, None, 13.5, 3),
    ("hypercalcemia", "mg/dL", 10.4, None, None, 13.6, 4),
    # Hypocalcemia: G1 <LLN - 8.0 mg/dL; <LLN - 2.0 mmol/L. G2 <8.0 - 7.0 mg/dL; <2.0 - 1.75
    # mmol/L. G3 <7.0 - 6.0 mg/dL; <1.75 - 1.5 mmol/L. G4 <6.0 mg/dL; <1.5 mmol/L.
    ("hypocalcemia", "mmol/L", None, 2.2, None, 2.2, 0),
    ("hypocalcemia", "mmol/L", None, 2.2, None, 2.0, 1),
    ("hypocalcemia", "mmol/L", None, 2.2, None, 1.99, 2),
    ("hypocalcemia", "mmol/L", None, 2.2, None, 1.75, 2),
    ("hypocalcemia", "mmol/L", None, 2.2, None, 1.74, 3),
    ("hypocalcemia", "mmol/L", None, 2.2, None, 1.5, 3),
    ("hypocalcemia", "mmol/L", None, 2.2, None, 1.49, 4),
    ("hypocalcemia", "mg/dL", None, 8.6, None, 8.0, 1),
    ("hypocalcemia", "mg/dL", None, 8.6, None, 7.9, 2),
    ("hypocalcemia", "mg/dL", None, 8.6, None, 6.9, 3),
    ("hypocalcemia", "mg/dL", None, 8.6, None, 5.9, 4),
    # Ionized calcium: hyper G1 >ULN - 1.5 mmol/L; G2 >1.5 - 1.6; G3 >1.6 - 1.8; G4 >1.8.
    # Hypo G1 <LLN - 1.0 mmol/L; G2 <1.0 - 0.9; G3 <0.9 - 0.8; G4 <0.8.
    ("hypercalcemia_ionised", "mmol/L", 1.3, None, None, 1.5, 1),
    ("hypercalcemia_ionised", "mmol/L", 1.3, None, None, 1.51, 2),
    ("hypercalcemia_ionised", "mmol/L", 1.3, None, None, 1.61, 3),
    ("hypercalcemia_ionised", "mmol/L", 1.3, None, None, 1.81, 4),
    ("hypocalcemia_ionised", "mmol/L", None, 1.15, None, 1.0, 1),
    ("hypocalcemia_ionised", "mmol/L", None, 1.15, None, 0.99, 2),
    ("hypocalcemia_ionised", "mmol/L", None, 1.15, None, 0.89, 3),
    ("hypocalcemia_ionised", "mmol/L", None, 1.15, None, 0.79, 4),
    # Hypoalbuminemia: G1 <LLN - 3 g/dL; <LLN - 30 g/L. G2 <3 - 2 g/dL; <30 - 20 g/L.
    # G3 <2 g/dL; <20 g/L.
    ("hypoalbuminemia", "g/L", None, 35, None, 35, 0),
    ("hypoalbuminemia", "g/L", None, 35, None, 34, 1),
    ("hypoalbuminemia", "g/L", None, 35, None, 30, 1),
    ("hypoalbuminemia", "g/L", None, 35, None, 29, 2),
    ("hypoalbuminemia", "g/L", None, 35, None, 20, 2),
    ("hypoalbuminemia", "g/L", None, 35, None, 19, 3),
    ("hypoalbuminemia", "g/dL", None, 3.5, None, 2.9, 2),
    ("hypoalbuminemia", "g/dL", None, 3.5, None, 1.9, 3),
    # Hypomagnesemia: G1 <LLN - 1.2 mg/dL; <LLN - 0.5 mmol/L. G2 <1.2 - 0.9 mg/dL; <0.5 - 0.4
    # mmol/L. G3 <0.9 - 0.7 mg/dL; <0.4 - 0.3 mmol/L. G4 <0.7 mg/dL; <0.3 mmol/L.
    ("hypomagnesemia", "mmol/L", None, 0.7, None, 0.7, 0),
    ("hypomagnesemia", "mmol/L", None, 0.7, None, 0.5, 1),
    ("hypomagnesemia", "mmol/L", None, 0.7, None, 0.49, 2),
    ("hypomagnesemia", "mmol/L", None, 0.7, None, 0.4, 2),
    ("hypomagnesemia", "mmol/L", None, 0.7, None, 0.39, 3),
    ("hypomagnesemia", "mmol/L", None, 0.7, None, 0.3, 3),
    ("hypomagnesemia", "mmol/L", None, 0.7, None, 0.29, 4),
    ("hypomagnesemia", "mg/dL", None, 1.7, None, 1.2, 1),
    ("hypomagnesemia", "mg/dL", None, 1.7, None, 1.1, 2),
    ("hypomagnesemia", "mg/dL", None, 1.7, None, 0.8, 3),
    ("hypomagnesemia", "mg/dL", None, 1.7, None, 0.6, 4),
    # Hypermagnesemia: G1 >ULN - 3.0 mg/dL; >ULN - 1.23 mmol/L. G3 >3.0 - 8.0 mg/dL; >1.23 -
    # 3.30 mmol/L. G4 >8.0 mg/dL; >3.30 mmol/L.
    ("hypermagnesemia", "mmol/L", 1.05, None, None, 1.05, 0),
    ("hypermagnesemia", "mmol/L", 1.05, None, None, 1.23, 1),
    ("hypermagnesemia", "mmol/L", 1.05, None, None, 1.24, 3),
    ("hypermagnesemia", "mmol/L", 1.05, None, None, 3.30, 3),
    ("hypermagnesemia", "mmol/L", 1.05, None, None, 3.31, 4),
    ("hypermagnesemia", "mg/dL", 2.6, None, None, 3.0, 1),
    ("hypermagnesemia", "mg/dL", 2.6, None, None, 3.1, 3),
    ("hypermagnesemia", "mg/dL", 2.6, None, None, 8.1, 4),
    # Hypoglycemia: G1 <LLN - 55 mg/dL; <LLN - 3.0 mmol/L. G2 <55 - 40 mg/dL; <3.0 - 2.2 mmol/L.
    # G3 <40 - 30 mg/dL; <2.2 - 1.7 mmol/L. G4 <30 mg/dL; <1.7 mmol/L.
    ("hypoglycemia", "mmol/L", None, 3.9, None, 3.9, 0),
    ("hypoglycemia", "mmol/L", None, 3.9, None, 3.0, 1),
    ("hypoglycemia", "mmol/L", None, 3.9, None, 2.9, 2),
    ("hypoglycemia", "mmol/L", None, 3.9, None, 2.2, 2),
    ("hypoglycemia", "mmol/L", None, 3.9, None, 2.1, 3),
    ("hypoglycemia", "mmol/L", None, 3.9, None, 1.7, 3),
    ("hypoglycemia", "mmol/L", None, 3.9, None, 1.6, 4),
    ("hypoglycemia", "mg/dL", None, 70, None, 55, 1),
    ("hypoglycemia", "mg/dL", None, 70, None, 54, 2),
    ("hypoglycemia", "mg/dL", None, 70, None, 39, 3),
    ("hypoglycemia", "mg/dL", None, 70, None, 29, 4),
]


@pytest.mark.parametrize(("term", "unit", "uln", "lln", "baseline", "value", "grade"), TABLE)
def test_grades_match_the_published_ctcae_v5_thresholds(
    term: str,
    unit: str,
    uln: float | None,
    lln: float | None,
    baseline: float | None,
    value: float,
    grade: int,
) -> None:
    assert ctcae_grade(term, value, unit=unit, uln=uln, lln=lln, baseline=baseline) == grade


def test_every_term_is_in_the_table() -> None:
    assert {term.code for term in TERMS} == {row[0] for row in TABLE}


def test_the_bounds_of_each_term_go_from_the_highest_grade_down() -> None:
    for term in TERMS:
        for bounds in (term.bounds.values(), [term.abnormal_baseline], [term.against_baseline]):
            for one_set in bounds:
                grades = [bound.grade for bound in one_set]
                assert grades == sorted(grades, reverse=True), term.code
                assert all(grade <= term.highest for grade in grades), term.code


def test_a_value_in_another_unit_is_converted_to_the_terms_unit() -> None:
    # Creatinine 2.0 mg/dL with a ULN of 1.0 mg/dL: 2 x ULN whatever the unit.
    assert ctcae_grade("creatinine_increased", 176.8, unit="µmol/L", uln=88.4) == 2
    # Neutrophils given per mm³ are graded on the thresholds in 10^9/L.
    assert ctcae_grade("neutrophil_count_decreased", 999, unit="/mm3", lln=1800) == 3
    # Glucose in mg/dL has thresholds of its own; in g/L it is converted to mmol/L.
    assert ctcae_grade("hypoglycemia", 0.35, unit="g/L", lln=0.70) == 3


def test_a_grade_that_needs_an_unknown_limit_is_unknown() -> None:
    assert ctcae_grade("alanine_aminotransferase_increased", 100) is None
    assert ctcae_grade("neutrophil_count_decreased", 1.6, unit="G/L") is None
    # ... unless the value already passes a bound that needs no limit.
    assert ctcae_grade("neutrophil_count_decreased", 0.4, unit="G/L") == 4
    assert ctcae_grade("hyperkalemia", 7.2, unit="mmol/L") == 4
    # An abnormal baseline is known only against the ULN.
    assert ctcae_grade("alanine_aminotransferase_increased", 100, baseline=60) is None


def test_an_analyte_is_graded_on_the_term_its_value_falls_in() -> None:
    grade, term = analyte_grade("potassium", 2.4, unit="mmol/L", uln=5.0, lln=3.5)
    assert (grade, term and term.code) == (4, "hypokalemia")
    grade, term = analyte_grade("potassium", 6.5, unit="mmol/L", uln=5.0, lln=3.5)
    assert (grade, term and term.code) == (3, "hyperkalemia")
    assert analyte_grade("potassium", 4.0, unit="mmol/L", uln=5.0, lln=3.5) == (0, None)
    assert analyte_grade("potassium", 4.0, unit="mmol/L") == (None, None)


def test_an_unknown_term_is_refused() -> None:
    with pytest.raises(UnknownTerm):
        ctcae_grade("hyperglycaemia", 10.0)


def test_corrected_calcium() -> None:
    assert corrected_calcium(2.0, 30) == pytest.approx(2.2)
    assert corrected_calcium(8.0, 3.0, unit="mg/dL") == pytest.approx(8.8)


def test_the_frame_grades_the_table_as_the_scalar_function_does() -> None:
    frame = pl.DataFrame(
        [
            (
                next(term.analyte for term in TERMS if term.code == code),
                value,
                unit,
                lln,
                uln,
                baseline,
            )
            for code, unit, uln, lln, baseline, value, _grade in TABLE
        ],
        schema=["analyte", "value", "unit", "low", "high", "baseline"],
        orient="row",
    )
    expected = [
        analyte_grade(analyte, value, unit=unit, uln=high, lln=low, baseline=baseline)[0]
        for analyte, value, unit, low, high, baseline in frame.iter_rows()
    ]
    assert graded(frame)["grade"].to_list() == expected


ANALYTES = sorted({term.analyte for term in TERMS})


@settings(max_examples=300, deadline=None)
@given(
    analyte=st.sampled_from(ANALYTES),
    value=st.floats(min_value=0, max_value=2000, allow_nan=False),
    low=st.one_of(st.none(), st.floats(min_value=0.01, max_value=200)),
    width=st.floats(min_value=0.01, max_value=500),
    baseline=st.one_of(st.none(), st.floats(min_value=0.01, max_value=1000)),
)
def test_the_frame_and_the_function_agree_on_any_value(
    analyte: str, value: float, low: float | None, width: float, baseline: float | None
) -> None:
    term = next(term for term in TERMS if term.analyte == analyte)
    unit = term.unit or "U/L"
    high = (low or 0) + width
    expected, _term = analyte_grade(analyte, value, unit=unit, uln=high, lln=low, baseline=baseline)
    frame = pl.DataFrame(
        {
            "analyte": [analyte],
            "value": [value],
            "unit": [unit],
            "low": [low],
            "high": [high],
            "baseline": [baseline],
        },
        schema={
            "analyte": pl.String,
            "value": pl.Float64,
            "unit": pl.String,
            "low": pl.Float64,
            "high": pl.Float64,
            "baseline": pl.Float64,
        },
    )
    assert graded(frame)["grade"].to_list() == [expected]
