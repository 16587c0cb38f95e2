"""Models, tasks and helpers shared by the ORM tests (tests/integration/test_orm_*.py)."""
