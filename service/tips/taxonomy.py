"""The allegation taxonomy (design section 4), with labels in English and Spanish."""

from __future__ import annotations

from enum import StrEnum

__all__ = ["LABELS", "Allegation", "label"]


class Allegation(StrEnum):
    BRIBERY = "bribery"
    ARMED_ESCORT = "armed_escort"
    LEAKING = "leaking"
    THEFT = "theft"
    EXTORTION = "extortion"
    COLLUSION_VIOLENCE = "collusion_violence"
    INFILTRATION = "infiltration"
    FALSE_RECORDS = "false_records"
    MISUSE_SURVEILLANCE = "misuse_surveillance"
    RETALIATION = "retaliation"
    OTHER = "other"


LABELS: dict[Allegation, dict[str, str]] = {
    Allegation.BRIBERY: {"en": "Bribery", "es": "Soborno"},
    Allegation.ARMED_ESCORT: {
        "en": "Armed escort or protection of shipments",
        "es": "Escolta armada o protección de cargamentos",
    },
    Allegation.LEAKING: {
        "en": "Leaking investigations, raids or informants",
        "es": "Filtración de investigaciones, operativos o informantes",
    },
    Allegation.THEFT: {
        "en": "Theft of drugs, cash or evidence",
        "es": "Robo de drogas, dinero o evidencias",
    },
    Allegation.EXTORTION: {"en": "Extortion or intimidation", "es": "Extorsión o intimidación"},
    Allegation.COLLUSION_VIOLENCE: {
        "en": "Collusion in violence",
        "es": "Complicidad en hechos violentos",
    },
    Allegation.INFILTRATION: {
        "en": "Infiltration or capture of a unit",
        "es": "Infiltración o captura de una unidad",
    },
    Allegation.FALSE_RECORDS: {
        "en": "False testimony or falsified records",
        "es": "Falso testimonio o registros falsificados",
    },
    Allegation.MISUSE_SURVEILLANCE: {
        "en": "Misuse of surveillance or databases",
        "es": "Uso indebido de vigilancia o bases de datos",
    },
    Allegation.RETALIATION: {
        "en": "Retaliation against a reporter",
        "es": "Represalias contra quien denuncia",
    },
    Allegation.OTHER: {"en": "Other", "es": "Otro"},
}


def label(code: Allegation, lang: str) -> str:
    return LABELS[code].get(lang, LABELS[code]["en"])
