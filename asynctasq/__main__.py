from asynctasq import early_signals

early_signals.install()  # before the heavier imports: see early_signals.py

from asynctasq.cli.main import main  # noqa: E402

raise SystemExit(main())
