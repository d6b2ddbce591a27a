"""Deploys: pipelines per service, the runner that carries deploys out and verifies them, locks,
freeze windows, approvals, and the records of every deploy (also those other systems ran)."""
