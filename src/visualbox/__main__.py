from __future__ import annotations

from visualbox.cli import main

if __name__ == "__main__":
    main()
