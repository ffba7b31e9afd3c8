import sys
from pathlib import Path

# Lets test modules import the shared golden-case list next to them.
sys.path.insert(0, str(Path(__file__).resolve().parent))
