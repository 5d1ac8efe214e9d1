"""A rule-based CheXpert-style labeler: report text → 14 observations as 1 / 0 / -1 / None.

The approach of the CheXpert labeler and NegBio, with regular expressions instead of a parser:
1. *Mention extraction*: each observation has phrase patterns (and exclusions such as
   "pericardial effusion" or "mass effect"); the heart and mediastinum are read as a subject with
   an attribute ("heart size is normal" → Cardiomegaly 0, "at the upper limits of normal" → -1).
2. *Classification* of each mention within its clause: the sentence is cut at scope breakers
   ("but", "however", "which", "with", "there is" ...); a negation cue before the mention
   ("no", "without", "negative for" ...) or after it ("is not seen", "has resolved") makes it 0,
   an uncertainty cue ("may", "possible", "likely", "cannot be excluded", "versus" ...) makes it
   -1; pseudo-negations ("no change in", "no interval increase") are ignored.
3. *Aggregation* per observation as CheXpert does: any positive mention → 1, else any uncertain
   → -1, else any negated → 0, else None (not mentioned). ``No Finding`` is 1 when no pathology
   (everything but Support Devices) is 1 or -1.

Rules were developed on the even-numbered Indiana University reports only; the odd ones are the
held-out check (``python -m ml.metrics.validate_labeler``, written to docs/labeler_agreement.md).
Pure Python + ``re``: thousands of reports per second, no torch.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from ml.types import CHEXPERT_OBSERVATIONS

POSITIVE, NEGATIVE, UNCERTAIN = 1, 0, -1

# --------------------------------------------------------------------------- mention patterns
# Patterns are matched against lower-cased clauses; word boundaries are added around each.
_MENTIONS: dict[str, list[str]] = {
    "Enlarged Cardiomediastinum": [
        r"widen(?:ed|ing) (?:of the )?(?:superior |upper )?mediastin(?:um|al silhouette|al contours?)",
        r"mediastinal (?:widening|enlargement|prominence)",
        r"prominence of the (?:superior |upper )?mediastinum",
        r"(?:right |left )?paratracheal (?:prominence|fullness|widening)",
        r"enlarged (?:cardio)?mediastin(?:um|al (?:silhouette|contours?))",
    ],
    "Cardiomegaly": [
        r"cardiomegaly",
        r"cardiac (?:enlargement|megaly)",
        r"enlarge(?:d|ment of the) (?:heart|cardiac (?:silhouette|shadow|size|contours?))",
        r"(?:heart|cardiac silhouette|cardiac shadow) (?:is |are )?(?:\w+ly )?enlarged",
        r"cardiac silhouette enlargement",
    ],
    "Lung Opacity": [
        r"opaci(?:ty|ties|fication|fications|fied)",
        r"(?:pulmonary |parenchymal |lung |airspace |air space |hazy |patchy |streaky |focal |basilar |basal |"
        r"interstitial |reticular |nodular |ill-defined |confluent |increased |linear )dens(?:ity|ities)",
        r"densit(?:y|ies) (?:in|at|within|of) the (?:right|left|bilateral|lung|lower|upper|mid|middle|lingula|bases?|"
        r"apex|apices|retrocardiac|perihilar)",
        r"infiltrat(?:e|es|ion|ive)",
        r"air[- ]?space (?:disease|process|filling)",
        r"hazy|haziness",
    ],
    "Lung Lesion": [
        r"nodules?",
        r"masse?s?",
        r"(?:lung|pulmonary|cavitary|cavitating|parenchymal|spiculated) lesions?",
        r"lesions? (?:in|within|at|of) the (?:right|left|lung|upper|lower|middle|lingula)",
        r"tumou?rs?",
        r"neoplasms?",
        r"carcinoma",
        r"malignanc(?:y|ies)",
        r"metasta(?:sis|ses|tic disease)",
        r"mass-?like (?:opacity|density|lesion|consolidation)",
        r"(?:lung|pulmonary|bronchogenic) cancer",
    ],
    "Edema": [
        r"(?:o)?edema",
        r"(?:vascular|venous|pulmonary) congestion",
        r"congestive (?:heart )?failure",
        r"heart failure",
        r"chf",
        r"cephalization",
        r"kerley b",
        r"fluid overload",
        r"(?:pulmonary |central |perihilar )?vascular (?:prominence|engorgement|indistinctness|redistribution)",
        r"(?:prominen(?:t|ce)|engorge(?:d|ment)|indistinct(?:ness)?|increased|increase in) (?:of )?(?:the )?(?:central )?"
        r"(?:pulmonary |lung )?(?:vascular(?:ity| markings| structures)?|vasculature|vessels)",
        r"(?:pulmonary |lung )?(?:vascularity|vasculature|vessels) (?:is |are )?(?:\w+ly )?(?:increased|prominent|engorged|"
        r"indistinct|congested)",
        r"congestion",
        r"(?:early|cardiac|left heart) failure",
    ],
    "Consolidation": [r"consolidat(?:ion|ions|ive|ed|ing)"],
    "Pneumonia": [
        r"pneumonias?",
        r"bronchopneumonia",
        r"infect(?:ion|ions|ious process|ious)",
        r"pneumonitis",
    ],
    "Atelectasis": [
        r"atelecta(?:sis|ses|tic)",
        r"(?:lobar|lung|lobe|segmental|basilar) collapse",
        r"collapse of the (?:right|left|lung|lower|upper|middle|lingula)",
    ],
    "Pneumothorax": [
        r"(?:hydro|hemo|haemo)?pneumothora(?:x|ces)",
        r"ptx",
        r"pleural air(?: collections?)?",
        r"air (?:in|within) the pleural space",
        r"air[- ]fluid levels? (?:in|within) the (?:right |left )?(?:hemithorax|pleural space)",
    ],
    "Pleural Effusion": [
        r"effusions?",
        r"pleural fluid",
        r"hydro ?thorax",
        r"hydropneumothorax",
        r"h(?:a)?emothorax",
        r"fluid (?:in|within|tracking (?:in|into|along)) the (?:major |minor |right |left )*(?:fissures?|pleural space)",
    ],
    "Pleural Other": [
        r"pleural (?:thickening|plaques?|scar(?:ring)?|calcifications?|reaction|nodul(?:e|arity)|abnormalit(?:y|ies))",
        r"pleural[- ]parenchymal (?:scar(?:ring)?|thickening|changes?)",
        r"thicken(?:ing|ed) (?:of )?(?:the )?pleura(?:l surfaces?)?",
        r"fibrothorax",
        r"(?:interlobar |minor |major )?fissural thickening",
        r"thickening of the (?:minor |major |right |left )*fissures?",
        r"(?:fibronodular |biapical |apical )pleural (?:thickening|scarring|changes?)",
        r"apical (?:pleural )?(?:cap|capping|thickening)",
        r"calcified pleura(?:l plaques?)?",
    ],
    "Fracture": [r"fractur(?:e|es|ed)", r"fx"],
    "Support Devices": [
        r"(?:pacemaker|pacer|defibrillator|aicd|icd)s?",
        r"(?:picc|port|central|venous|catheter|midline|swan|dialysis|hickman|internal jugular|subclavian) (?:line|catheter)s?",
        r"(?:port-a-cath|portacath|porta-cath|catheter|catheters|mediport|power port)",
        r"picc",
        r"(?:endotracheal|tracheostomy|nasogastric|orogastric|feeding|enteric|chest|ng|og|et|dobbhoff|gastric|"
        r"thoracostomy) tubes?",
        r"tracheostomy",
        r"(?:surgical )?clips?",
        r"stents?",
        r"(?:cardiac |pacer |pacemaker |pacing )?(?:leads?|generator)",
        r"(?:sternotomy |sternal |surgical )wires?",
        r"(?:valve (?:replacement|prosthesis)|prosthetic (?:valve|aortic valve|mitral valve)|valvular prosthes[ie]s)",
        r"(?:loop recorder|cardiac monitor|monitoring device|implantable device|medical device|device)s?",
        r"(?:surgical |orthopedic |fixation |spinal |fusion )hardware",
        r"(?:drain|drainage catheter|chest drain)s?",
        r"(?:support devices?|lines and tubes|tubes and lines)",
        # IU de-identification often hides the device noun ("left chest XXXX with tip in the SVC")
        r"tips?\b[^.;]{0,50}\b(?:svc|vena cava|cavoatrial|cava-atrial|caval|atri(?:um|al)|ventricle|brachiocephalic|"
        r"innominate|jugular|subclavian|stomach|carina)",
        r"(?:left|right)(?:-sided)? (?:chest|subclavian|ij|internal jugular|arm|upper extremity|infraclavicular) xxxx",
        r"cardiac xxxx",
        r"(?:nerve |spinal cord |vagal )?stimulators?",
        r"(?:vp |ventriculoperitoneal |tips |shunt )?(?:shunt|shunt tubing|tubing)",
        r"(?:embolization |embolic |vascular )?coils?",
        r"prosthe(?:sis|ses|tic)",
        r"(?:internal )?fixation",
        r"(?:sternotomy )?sutures?",
        r"(?:bypass |cabg |surgical )?markers",
        r"(?:ivc )?filter",
        r"(?:gastrostomy|g-tube|j-tube|jejunostomy) ?(?:tubes?)?",
        r"arthroplast(?:y|ies)",
        r"orthopedic (?:xxxx|hardware|screws?|plates?|rods?)",
        r"(?:screws?|plates?|rods?) and (?:screws?|plates?|rods?)",
    ],
}

# Phrases that contain a mention word but are not that observation.
_EXCLUDE: dict[str, list[str]] = {
    "Lung Lesion": [
        r"mass effect",
        r"soft tissue (?:mass|density|nodule)",
        r"breast (?:mass|masses|tissue|nodules?)",
        r"(?:neck|thyroid|abdominal|liver|renal|kidney|adrenal|hepatic|bone|bony|osseous|skeletal|lytic|blastic|"
        r"sclerotic|rib|vertebral|spine|spinal) (?:masse?s?|lesions?|nodules?|metastas[ie]s)",
        r"nipple shadows?",
        r"muscle mass",
        r"body mass",
        r"calcified (?:granulomas?|nodes?|lymph nodes?)",
        r"granulomas?",
        r"osseous metastatic disease",
        r"metastatic disease (?:to|of|in) the (?:bones?|spine|ribs?|skeleton)",
    ],
    "Lung Opacity": [
        r"(?:bone|breast|bony|osseous|soft tissue|nipple|mammary|calcific|calcified|metallic|sclerotic) densit(?:y|ies)",
        r"densit(?:y|ies) of the (?:bones?|osseous)",
        r"opaci(?:ty|ties) (?:projecting )?(?:over|overlying) the (?:soft tissues?|breast|abdomen|spine)",
        r"breast (?:implants?|shadows?|opacit(?:y|ies))",
        r"nipple (?:shadows?|opacit(?:y|ies))",
        r"radio-?opaque|radiopaque|contrast",
    ],
    "Pleural Effusion": [
        r"pericardial effusions?",
        r"(?:joint|knee|shoulder) effusions?",
    ],
    "Edema": [
        r"soft tissue (?:o)?edema",
        r"(?:subcutaneous|extremity|pedal|lower extremity|scalp) (?:o)?edema",
    ],
    "Pneumonia": [
        r"urinary (?:tract )?infection",
        r"(?:uti|urinary)",
        r"(?:prior|old|remote|previous|healed|past|chronic) (?:granulomatous )?(?:infection|infectious process)",
        r"granulomatous (?:infection|infectious process|disease)",
        r"(?:prior |old |remote |previous )?(?:tuberculosis|tuberculous|tb|mycobacterial) infection",
    ],
    "Support Devices": [
        r"external (?:leads?|monitoring leads?|devices?|cardiac leads?|ekg leads?)",
        r"(?:ekg|ecg|electrocardiogram|telemetry|monitoring) (?:leads?|wires?|devices?)",
        r"leads? (?:overlying|over|projecting over) the (?:chest|thorax|skin)",
        r"(?:lymph )?nodes?",
        r"(?:breast|nipple) (?:markers?|prosthe(?:sis|ses|tic))",
    ],
    "Fracture": [
        r"fractures? (?:fixation|hardware)",
        r"(?:catheter|lead|leads|wire|wires|screw|screws|hardware|device|pacer|pacemaker) fracture",
        r"fractured (?:screws?|leads?|wires?|hardware|catheters?|(?:sternal |sternotomy )?wires?)",
    ],
    "Atelectasis": [r"(?:vertebral|compression|vertebral body) collapse"],
    "Pleural Other": [],
}

# --------------------------------------------------------------------------- heart / mediastinum attributes
_HEART_SUBJ = (
    r"(?:heart(?: size| shadow| silhouette)?|cardiac (?:silhouette|shadow|size|contours?|outline|borders?|"
    r"dimensions|diameter|and mediastinal silhouettes?|and mediastinal contours?)|cardiac|size of the heart|heart and mediastinum)"
)
_CM_SUBJ = (
    r"(?:cardio[- ]?mediastinal (?:silhouettes?|contours?|shadows?|outlines?|borders?|size|structures)|"
    r"mediastin(?:um|al (?:silhouettes?|contours?|width|structures|borders?|outlines?|shadows?|size))|"
    r"superior mediastinum|(?:and |, )mediastin(?:um|al (?:silhouettes?|contours?)))"
)
# Earliest match wins, so longer uncertain phrases beat the word "normal" inside them.
_ATTR = re.compile(
    r"\b(?:(?P<unc>prominent|accentuated|may be (?:mildly )?enlarged|"
    r"possibly (?:mildly )?enlarged|questionabl[ey] (?:mildly )?enlarged)"
    r"|(?P<pos>borderline(?: enlarged| in size| enlargement)?|enlarged|enlargement|increased in size|increased|large|widened|widening|wide|cardiomegaly)"
    r"|(?P<neg>(?:at |on |in |within |near )?(?:the )?(?:upper|high|top) (?:limits?|range|end|margin)s? (?:of )?normal|"
    r"(?:upper|high|top)[- ]normal|normal|unremarkable|within (?:the )?normal limits|wnl|negative|stable in size and contour|"
    r"not enlarged|unchanged in size and normal|small))\b"
)
_ATTR_GAP = re.compile(r"^[\w\s\-/']{0,60}$")  # what may sit between subject and attribute (no clause break)
_PRE_ATTR = re.compile(
    r"\b(?:(?P<unc>prominent|mildly prominent)|"
    r"(?P<pos>borderline(?: enlarged)?|(?:mildly |moderately |markedly |severely |slightly )?enlarged)|(?P<neg>normal(?:[- ]sized)?|"
    r"unremarkable|upper normal|high normal|top normal|upper limits? (?:of )?normal))(?: in size)?(?: size of the| size| sized)? "
)

# --------------------------------------------------------------------------- cues
_PSEUDO_NEG = re.compile(
    r"\b(?:no (?:significant |interval |appreciable |substantial |definite |marked )?(?:change|changes|increase|"
    r"decrease|progression|worsening|improvement)|not (?:significantly )?(?:changed|increased|decreased|improved)|"
    r"without (?:significant |interval )?(?:change|changes|progression)|not only|no longer (?:enlarged)?\b(?=x)|"
    r"gram negative)\b"
)
_UNCERTAIN_DOUBLE_NEG = re.compile(
    r"\b(?:cannot|can not|can't|could not|not) (?:be )?(?:entirely |completely |totally |definitely )?"
    r"(?:excluded|exclude|ruled out|rule out|excluding|be excluded|be ruled out)\b|\bnot (?:entirely )?excluded\b|"
    r"\bnot (?:definitely |clearly )?(?:seen|identified|excluded) (?:but|although)\b|\bno definite\b(?= .* (?:but|although))"
)
_PRE_NEG = re.compile(
    r"\b(?:no|not|without|negative for|free of|absence of|absent|rather than|resolution of|resolved|"
    r"clearing of|cleared|removal of|removed|neither|nor|never|deny|denies|denied|exclude|excluded|excludes|"
    r"ruled out|rules out|rule out|clear of|no evidence of|no signs? of|no findings? of|resolving)\b"
)
_POST_NEG = re.compile(
    r"^[\w\s,\-]{0,40}?\b(?:(?:is|are|was|were|has been|have been) (?:no longer |not )(?:seen|identified|present|"
    r"visualized|visible|demonstrated|appreciated|evident|noted|detected|apparent|enlarged|identifiable|"
    r"observed)|(?:has|have) (?:resolved|cleared|been removed|improved and resolved)|(?:is|are) absent|resolved|"
    r"not (?:seen|identified|present|visualized|appreciated|evident|demonstrated|noted)|no longer (?:seen|present|"
    r"visualized|identified|evident|noted)|removed|are negative|is negative)\b"
)
_PRE_UNC = re.compile(
    r"\b(?:may|might|possible|possibly|possibility|probable|probably|likely|unlikely|suggest|suggests|suggested|"
    r"suggestive|suggesting|suspicious|suspect|suspected|suspicion|concern|concerning|questionable|questionably|"
    r"question of|cannot|can not|can't|could|differential|consider|considered|considering|"
    r"versus|vs|equivocal|indeterminate|uncertain|presumably|presumed|perhaps|atypical|worrisome|"
    r"evaluate for|evaluation for|rule out|r/o|not excluded|apparent|apparently|"
    r"would be|may be|developing|early|underlying|represent|represents|representing|favor|favored|favoring|"
    r"differential diagnosis|seen in|associated with|could represent)\b|\?"
)
_POST_UNC = re.compile(
    r"^[\w\s,\-]{0,40}?\b(?:(?:is|are|was|were) (?:not excluded|not ruled out|possible|suspected|questioned|"
    r"likely|probable|considered|favored|suggested)|suspected|questioned|cannot be (?:excluded|ruled out|entirely excluded)|"
    r"can not be (?:excluded|ruled out)|could be|may be present|versus|vs|not excluded|not ruled out|"
    r"(?:is|are|would be) (?:a |an )?(?:consideration|possibility))\b|^\s*\?"
)
# Cues that are ordinary English inside a clause but should not flip a *positive* mention to uncertain
_WEAK_UNC = {
    "apparent",
    "apparently",
    "early",
    "developing",
    "underlying",
    "represent",
    "represents",
    "representing",
    "associated with",
    "seen in",
    "versus",
    "vs",
}

# Scope breakers: a cue does not reach across them.
_BREAK = re.compile(
    r"\b(?:but|however|although|though|except|aside from|apart from|otherwise|which|whereas|while|yet|"
    r"nevertheless|nonetheless|(?<!compatible )(?<!consistent )(?<!associated )(?<!concordant )with|"
    r"there (?:is|are|has|have|may|appears?|remains?|was|were)|in addition|additionally|"
    r"also|again|now|then|given|due to|secondary to|consistent with|again noted|noted|status post|s/p|post|since|"
    r"because|likely due)\b|[;:]|\s-\s|, (?=(?:and )?(?:the )?(?:heart|lungs?|cardiac|cardiomediastinal|mediastin|"
    r"pulmonary vascula|osseous|bon|visualized|there|normal|stable)\b)"
)
_NEG_WINDOW = 16  # words between a pre-negation cue and the mention (NegEx uses 5; IU lists run longer)
_UNC_WINDOW = 12

_SENTENCE = re.compile(r"(?<!\b[a-z])(?<!\bdr)(?<!\bvs)[.!?]+(?=\s|$)|\n+|\s\d+\.\s|^\d+\.\s")
_WORD = re.compile(r"[a-z0-9']+")


def _compile(patterns: list[str]) -> re.Pattern[str] | None:
    if not patterns:
        return None
    return re.compile(r"\b(?:" + "|".join(f"(?:{p})" for p in patterns) + r")\b")


_MENTION_RE = {obs: _compile(p) for obs, p in _MENTIONS.items()}

# Substrings one of which every match of an observation's patterns contains: a sentence without
# any of them cannot mention the observation, so its (slow) regex is skipped. Kept honest by
# tests/metrics/test_labeler.py, which labels the IU reports with and without this shortcut.
_TRIGGERS: dict[str, tuple[str, ...]] = {
    "Enlarged Cardiomediastinum": ("mediastin", "paratracheal"),
    "Cardiomegaly": ("cardi", "heart"),
    "Lung Opacity": ("opaci", "densit", "infiltrat", "air", "hazy", "haziness"),
    "Lung Lesion": ("nodul", "mass", "lesion", "tumo", "neoplasm", "carcinoma", "malignan", "metasta", "cancer"),
    "Edema": ("edema", "congest", "failure", "chf", "cephalization", "kerley", "overload", "vascula", "vessel"),
    "Consolidation": ("consolidat",),
    "Pneumonia": ("pneumoni", "infect"),
    "Atelectasis": ("atelecta", "collapse"),
    "Pneumothorax": ("pneumothora", "ptx", "air"),
    "Pleural Effusion": ("effusion", "fluid", "thorax"),
    "Pleural Other": ("pleura", "fibrothorax", "fissur", "apical"),
    "Fracture": ("fractur", "fx"),
    "Support Devices": (
        "pace", "defib", "icd", "line", "cath", "port", "picc", "tube", "tubing", "trach", "clip", "stent", "lead",
        "generator", "wire", "valve", "prosthe", "recorder", "monitor", "device", "hardware", "drain", "support",
        "tip", "xxxx", "stimulator", "shunt", "coil", "fixation", "suture", "marker", "filter", "gastrostomy",
        "jejunostomy", "arthroplast", "orthopedic", "screw", "plate", "rod",
    ),
}  # fmt: skip
_ATTRIBUTE_TRIGGERS = {"Cardiomegaly": ("heart", "cardi"), "Enlarged Cardiomediastinum": ("mediastin",)}
_EXCLUDE_RE = {obs: _compile(p) for obs, p in _EXCLUDE.items()}
_HEART_RE = re.compile(r"\b" + _HEART_SUBJ + r"\b")
_CM_RE = re.compile(r"\b" + _CM_SUBJ + r"\b")


@dataclass(frozen=True)
class Mention:
    """One mention of an observation in a sentence, with its classified status."""

    observation: str
    sentence: int
    start: int  # character offsets into the normalised sentence
    end: int
    text: str
    status: int  # 1 positive, 0 negative, -1 uncertain


def normalise(text: str) -> str:
    """Lower-case, unify whitespace and hyphenation, and drop the IU de-identification marks."""
    text = text.lower().replace("\u2019", "'")
    text = re.sub(r"\b(?:findings|impression|comparison|indication|history|technique)\s*:", ". ", text)
    text = re.sub(r"\bx-?xxxx\b|\bxxxx\b", " xxxx ", text)
    text = re.sub(r"(?<=\w)-(?=\w)", "-", text)
    return re.sub(r"[ \t]+", " ", text)


def labeler_sentences(text: str) -> list[str]:
    """The sentences the labeler reads in ``text``, each a scope for negation and uncertainty:
    the text normalised (``normalise``), then split at periods, line breaks and numbered list items.
    (The report editor's sentences are the reader's, split on punctuation only.)"""
    return [s.strip(" ,") for s in _SENTENCE.split(normalise(text)) if s and s.strip(" ,.")]


def _words(span: str) -> int:
    return len(_WORD.findall(span))


def _clause_bounds(sentence: str, start: int, end: int) -> tuple[int, int]:
    """The clause around [start, end): from the last scope breaker before it to the first one after it."""
    lo, hi = 0, len(sentence)
    for m in _BREAK.finditer(sentence):
        if m.end() <= start:
            lo = m.end()
        elif m.start() >= end:
            hi = m.start()
            break
    return lo, hi


def _masked(sentence: str, pattern: re.Pattern[str]) -> list[tuple[int, int]]:
    return [(m.start(), m.end()) for m in pattern.finditer(sentence)]


def _overlaps(spans: list[tuple[int, int]], a: int, b: int) -> bool:
    return any(s < b and a < e for s, e in spans)


def classify(sentence: str, start: int, end: int) -> int:
    """Status of the mention at [start, end) in a normalised sentence: 1, 0 or -1."""
    lo, hi = _clause_bounds(sentence, start, end)
    pre, post = sentence[lo:start], sentence[end:hi]
    pseudo = _masked(pre, _PSEUDO_NEG)
    double = _masked(pre, _UNCERTAIN_DOUBLE_NEG)
    # uncertainty first: "cannot exclude pneumonia", "possible effusion", "may represent atelectasis"
    strong_unc = weak_unc = False
    for m in _PRE_UNC.finditer(pre):
        if _overlaps(pseudo, m.start(), m.end()) or _words(pre[m.end() :]) > _UNC_WINDOW:
            continue
        if m.group(0) in _WEAK_UNC:
            weak_unc = True
        else:
            strong_unc = True
    post_unc = _POST_UNC.search(post)
    if post_unc and post_unc.group(0).strip().endswith(("versus", "vs")):
        weak_unc = True
    elif post_unc:
        strong_unc = True
    negated = False
    for m in _PRE_NEG.finditer(pre):
        if _overlaps(pseudo, m.start(), m.end()) or _overlaps(double, m.start(), m.end()):
            continue
        if _words(pre[m.end() :]) <= _NEG_WINDOW:
            negated = True
    if not negated and _POST_NEG.search(post):
        negated = True
    if double or _UNCERTAIN_DOUBLE_NEG.search(post[:60]):
        return UNCERTAIN
    if negated:
        return NEGATIVE
    if weak_unc or strong_unc:
        return UNCERTAIN
    return POSITIVE


_PRE_ATTR_END = re.compile(_PRE_ATTR.pattern + r"$")
# Words between subject and attribute that mean the attribute belongs to something else.
_OTHER_SUBJECT = re.compile(
    r"\b(?:with|but|and the lungs?|lungs?|hil(?:a|um|ar)|vascular|vasculature|aorta|aortic|arch|pulmonary|hernia|"
    r"bones?|osseous|spine|trachea|knob|effusions?|pleural|nodes?|fat|pad)\b"
)
_COPULA_END = re.compile(r"\b(?:is|are|appears?|remains?)\s+(?:\w+ly )?$")
_STATUS = {"pos": POSITIVE, "neg": NEGATIVE, "unc": UNCERTAIN}
_CLASSIFY = -2  # base status meaning "positive attribute: run negation/uncertainty on it"


def _attribute_mentions(
    sentence: str, subject: re.Pattern[str], observation: str
) -> list[tuple[int, int, int]]:
    """(start, end, base status) for "heart size is normal" / "normal heart size"-style statements."""
    found: list[tuple[int, int, int]] = []
    for subj in subject.finditer(sentence):
        # prefix attribute: "normal heart size", "enlarged cardiac silhouette"
        head = sentence[max(0, subj.start() - 40) : subj.start()]
        pre = _PRE_ATTR_END.search(head)
        if pre is not None:
            status = _STATUS[pre.lastgroup or "neg"]
            if observation == "Enlarged Cardiomediastinum" and "prominent" in pre.group(0):
                status = POSITIVE
            if (
                status == POSITIVE
                and observation == "Enlarged Cardiomediastinum"
                and "mediastin" not in subj.group(0)
            ):
                continue
            start = subj.start() - len(pre.group(0))
            found.append((start, subj.end(), _CLASSIFY if status == POSITIVE else status))
            continue
        # postfix attribute: "heart size is mildly enlarged", "mediastinal contours are within normal limits"
        tail = sentence[subj.end() : subj.end() + 90]
        attr = _ATTR.search(tail)
        if attr is None:
            continue
        gap = tail[: attr.start()]
        if not _ATTR_GAP.match(gap) or _words(gap) > 8 or _OTHER_SUBJECT.search(gap):
            continue
        kind, word = attr.lastgroup or "neg", attr.group(0)
        if kind == "pos" and word in ("large", "wide") and not _COPULA_END.search(gap + " "):
            continue
        if word in ("widened", "widening", "wide") and observation == "Cardiomegaly":
            continue
        if word == "small" and observation == "Enlarged Cardiomediastinum":
            continue
        status = _STATUS[kind]
        if observation == "Enlarged Cardiomediastinum" and word in ("prominent", "accentuated"):
            status = POSITIVE  # a prominent mediastinum is the finding itself; a prominent heart only hints
        found.append((subj.start(), subj.end() + attr.end(), _CLASSIFY if status == POSITIVE else status))
    return found


class Labeler:
    """CheXpert-style labeler; ``label(text)`` → {observation: 1 | 0 | -1 | None} for all 14."""

    observations: tuple[str, ...] = CHEXPERT_OBSERVATIONS

    def __init__(self, use_triggers: bool = True):
        self.use_triggers = (
            use_triggers  # skip observations whose trigger words a sentence lacks (same labels)
        )

    def mentions(self, text: str) -> list[Mention]:
        out: list[Mention] = []
        for index, sentence in enumerate(labeler_sentences(text)):
            out.extend(self._sentence_mentions(index, sentence))
        return out

    def _sentence_mentions(self, index: int, sentence: str) -> list[Mention]:
        found: list[Mention] = []
        for obs, pattern in _MENTION_RE.items():
            if self.use_triggers and not any(t in sentence for t in _TRIGGERS[obs]):
                continue
            excluded: list[tuple[int, int]] | None = None
            for m in pattern.finditer(sentence):
                exclude = _EXCLUDE_RE.get(obs)
                if exclude is not None:
                    if excluded is None:
                        excluded = _masked(sentence, exclude)
                    if _overlaps(excluded, m.start(), m.end()):
                        continue
                status = classify(sentence, m.start(), m.end())
                found.append(Mention(obs, index, m.start(), m.end(), m.group(0), status))
        for subject, obs in ((_HEART_RE, "Cardiomegaly"), (_CM_RE, "Enlarged Cardiomediastinum")):
            if self.use_triggers and not any(t in sentence for t in _ATTRIBUTE_TRIGGERS[obs]):
                continue
            for start, end, base in _attribute_mentions(sentence, subject, obs):
                status = base
                if base == _CLASSIFY:
                    status = classify(sentence, end - 1, end)
                elif base == UNCERTAIN and classify(sentence, start, end) == NEGATIVE:
                    status = NEGATIVE
                found.append(Mention(obs, index, start, end, sentence[start:end], status))
        return found

    def label(self, text: str) -> dict[str, int | None]:
        """Labels for one report, CheXpert's aggregation (positive > uncertain > negative > not mentioned)."""
        labels: dict[str, int | None] = dict.fromkeys(self.observations)
        for mention in self.mentions(text):
            current = labels[mention.observation]
            labels[mention.observation] = _merge(current, mention.status)
        pathology = [o for o in self.observations if o not in ("No Finding", "Support Devices")]
        if text.strip() and not any(labels[o] in (POSITIVE, UNCERTAIN) for o in pathology):
            labels["No Finding"] = POSITIVE
        return labels

    def label_many(self, texts: Iterable[str]) -> list[dict[str, int | None]]:
        return [self.label(t) for t in texts]


_RANK = {POSITIVE: 3, UNCERTAIN: 2, NEGATIVE: 1}


def _merge(current: int | None, new: int) -> int:
    if current is None or _RANK[new] > _RANK[current]:
        return new
    return current


_DEFAULT = Labeler()


def label_report(text: str) -> dict[str, int | None]:
    """Label one report with the default labeler."""
    return _DEFAULT.label(text)


def label_reports(texts: Iterable[str]) -> list[dict[str, int | None]]:
    """Label many reports with the default labeler."""
    return _DEFAULT.label_many(texts)
