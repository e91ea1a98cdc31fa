"""``python -m cadenza`` (also what ``torchrun -m cadenza train ...`` runs on each process)."""

from cadenza.cli import app

if __name__ == "__main__":
    app()
