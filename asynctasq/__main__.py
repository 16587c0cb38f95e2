from asynctasq.cli.main import main

raise SystemExit(main())
