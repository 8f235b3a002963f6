"""The HTTP API of SPEC §5: FastAPI under uvicorn (`socialcredit serve`)."""

from socialcredit.service.app import create_app

__all__ = ["create_app"]
