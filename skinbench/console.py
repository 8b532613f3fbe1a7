"""The one rich console every module prints through (stderr for logs, stdout for tables)."""

from rich.console import Console

console = Console()
err_console = Console(stderr=True)
