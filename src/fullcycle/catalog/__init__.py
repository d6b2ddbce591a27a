"""The service catalog: services, teams, systems and APIs, who owns them and who is on call."""
