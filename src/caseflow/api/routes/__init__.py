"""One APIRouter per area of the API; ``caseflow.api.app.ROUTERS`` includes them."""
