#!/bin/sh
# skip.sh REASON... - a test that cannot run in this build: say why, exit 77.
echo "skipped: $*"
exit 77
