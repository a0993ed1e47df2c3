"""Files shipped with the project."""

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE_SAMPLE = ROOT / "examples" / "support_tickets.csv"
