"""``POST /v1/admin/bundle``: serve a new model bundle without a restart (admin token only).

The new bundle loads beside the serving model, off the model thread, so drafts keep coming while it
loads; drafts already admitted finish on the model they started with. Mounted only when the
backend has an admin token and a bundle loader (``serve`` with ``GAZE2REPORT_ADMIN_TOKEN``).
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, Depends

from ml.serve.deps import BackendDep, json_body, require_admin
from ml.serve.schemas import READ_ERRORS, SwapOut, SwapRequest, error_responses

router = APIRouter(
    prefix="/admin",
    tags=["admin"],
    dependencies=[Depends(require_admin), Depends(json_body)],
    responses={**READ_ERRORS, **error_responses(409, 415, 422)},
)


@router.post("/bundle", response_model=SwapOut)
async def swap_bundle(req: SwapRequest, backend: BackendDep) -> SwapOut:
    old, new = await backend.swap(Path(req.bundle))
    return SwapOut(model=new.info(), previous=old.info() if old is not None else None)
