"""forgood's tests. A package so that ``tests.support`` imports the same way from every test
(``pythonpath = ["."]`` in pyproject.toml puts the repository root on sys.path); the test
folders themselves (unit/, integration/) are not packages, so test file names stay unique."""
