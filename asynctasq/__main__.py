from asynctasq import early_gc, early_signals

early_signals.install()  # before the heavier imports: see early_signals.py
early_gc.pause()  # until start-up is over: see early_gc.py

from asynctasq.cli.main import main  # noqa: E402

raise SystemExit(main())
