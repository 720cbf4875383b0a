import sys

try:
    from tools.local_stack.stack import main
except KeyboardInterrupt:  # Ctrl-C before the stack's own signal handling is in place: nothing to stop yet
    sys.exit(0)

sys.exit(main())
