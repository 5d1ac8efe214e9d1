"""The loaded model: its identity and capabilities, predicted scanpaths, and the gaze graph."""

from __future__ import annotations

from fastapi import APIRouter, Depends

from ml.serve.deps import BackendDep, ModelDep, json_body, require_token
from ml.serve.images import from_scanpath, to_scanpath
from ml.serve.schemas import (
    MODEL_ERRORS,
    READ_ERRORS,
    Capabilities,
    DecodingIn,
    GraphOut,
    GraphRequest,
    ModelOut,
    ScanpathsOut,
    ScanpathsRequest,
    is_untrained,
)

router = APIRouter(tags=["model"], dependencies=[Depends(require_token)], responses=READ_ERRORS)
posts = APIRouter(dependencies=[Depends(json_body)], responses=MODEL_ERRORS)


@router.get("/model", response_model=ModelOut)
async def model_info(m: ModelDep, backend: BackendDep) -> ModelOut:
    info = {**m.info(), **backend.settings.extra_info}
    caps = getattr(m, "capabilities", None)
    if caps is None:
        drafter = info.get("kind") == "drafter"
        caps = {"scanpaths": not drafter, "graph": not drafter}
    return ModelOut(
        info=info,
        untrained=is_untrained(info),
        capabilities=Capabilities(**caps),
        context_length=getattr(m, "context_length", None),
        decoding=DecodingIn(),
    )


@posts.post("/scanpaths", response_model=ScanpathsOut)
async def scanpaths(req: ScanpathsRequest, m: ModelDep, backend: BackendDep) -> ScanpathsOut:
    image = await backend.decode(req.image)
    paths = await backend.call(lambda: m.predict_scanpaths(image, n=req.n, seed=req.seed))
    return ScanpathsOut(scanpaths=[from_scanpath(p) for p in paths], image_size=image.size)


@posts.post("/graph", response_model=GraphOut)
async def graph(req: GraphRequest, m: ModelDep, backend: BackendDep) -> GraphOut:
    image = await backend.decode(req.image)
    given = to_scanpath(req.gaze, image)

    def run():
        sp = given if given is not None else m.predict_scanpaths(image, n=1, seed=req.seed)[0]
        return m.gaze_graph(image, sp)

    g = await backend.call(run)
    return GraphOut(
        scanpath=from_scanpath(g.scanpath),
        scanpath_source=g.scanpath.source.value,
        node_attention=[float(a) for a in g.node_attention],
        edges=[(int(a), int(b)) for a, b in g.edges],
        edge_attention=[float(a) for a in g.edge_attention],
        edge_types=list(g.edge_types),
        image_size=image.size,
    )


router.include_router(posts)
