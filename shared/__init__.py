"""The project's own package: event contracts, topics and messaging guarantees shared by every service."""
