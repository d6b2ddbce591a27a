"""Imports every concept's models so that Base.metadata knows all tables (used by migrations)."""

from fullcycle.alerting import models as alerting_models
from fullcycle.anomaly import models as anomaly_models
from fullcycle.audit import models as audit_models
from fullcycle.auth import models as auth_models
from fullcycle.catalog import models as catalog_models
from fullcycle.deploy import models as deploy_models
from fullcycle.logs import models as logs_models
from fullcycle.metrics import models as metrics_models
from fullcycle.store.database import Base

__all__ = [
    "Base",
    "alerting_models",
    "anomaly_models",
    "audit_models",
    "auth_models",
    "catalog_models",
    "deploy_models",
    "logs_models",
    "metrics_models",
]
