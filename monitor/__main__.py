import sys

from monitor.start import main

sys.exit(main())
