# Parses many gcloud command lines in one Python process, through gcloud's own CLI object
# (gcloud_main.CreateCLI, what the gcloud script itself runs), so the deploy's ~100 commands
# cost one interpreter start instead of 100 (each costs 1-2 s of CPU).
#
#   python3 gcloudBatch.py <sdk root>  < [{"args": [...], "stdin": "..."}, ...]
#   > [{"code": <exit code>, "stderr": "..."}, ...]
#
# Each call gets its own stdin and its stderr is read from file descriptor 2, where gcloud's
# log handler writes whatever Python object sys.stderr is.
#
# An entry {"format": "<--format value>", "resource": <object>, "single": <bool>} instead
# renders that resource with gcloud's own resource printer and answers {"code", "stdout",
# "stderr"}: with no credentials a command stops before it prints, so this is how a deploy's
# --format expressions (a transform such as basename(), what a value() of a list prints) are
# checked against gcloud itself.
import io
import json
import os
import sys
import tempfile

sdk = sys.argv[1]
sys.path[0:0] = [os.path.join(sdk, 'lib'), os.path.join(sdk, 'lib', 'third_party')]
from googlecloudsdk import gcloud_main  # noqa: E402
from googlecloudsdk.core.resource import resource_printer  # noqa: E402

calls = json.load(sys.stdin)
cli = gcloud_main.CreateCLI([])
results = []
saved_fd2 = os.dup(2)
for call in calls:
    if 'format' in call:
        out = io.StringIO()
        try:
            resource_printer.Print(call['resource'], call['format'], out=out, single=call.get('single', True))
            results.append({'code': 0, 'stdout': out.getvalue(), 'stderr': ''})
        except Exception as e:  # a bad expression is a failure of that entry, not of all
            results.append({'code': 1, 'stdout': out.getvalue(), 'stderr': '%s: %s' % (type(e).__name__, e)})
        continue
    with tempfile.TemporaryFile() as err:
        sys.stderr.flush()
        os.dup2(err.fileno(), 2)
        sys.stdin = io.StringIO(call.get('stdin', ''))
        code = 0
        try:
            cli.Execute(call['args'])
        except SystemExit as e:
            code = e.code if isinstance(e.code, int) else 1
        except BaseException as e:  # an unexpected crash is a failure of that line, not of all
            sys.stderr.write('EXCEPTION %s: %s\n' % (type(e).__name__, e))
            code = -1
        finally:
            sys.stderr.flush()
            os.dup2(saved_fd2, 2)
        err.seek(0)
        results.append({'code': code, 'stderr': err.read().decode('utf-8', 'replace')})
sys.stdout.write(json.dumps(results))
