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
#
# An entry {"filter": "<--filter value>", "resources": [<object>, ...]} answers {"code", "stdout":
# a JSON list of whether each resource passes the filter, as gcloud's own filter reads it}; and
# {"message": "<api>/<version>/<message>", "json": "<text>"} decodes the text as that message of
# the API, with gcloud's own copy of its definitions, and answers {"code", "stdout": a JSON list of
# the fields it does not know, by path, an enum value it does not know among them}: a command
# such as `alpha monitoring policies create` asks for credentials before it reads its definition,
# so this is how a definition's shape is checked without them.
import io
import json
import os
import sys
import tempfile

sdk = sys.argv[1]
sys.path[0:0] = [os.path.join(sdk, 'lib'), os.path.join(sdk, 'lib', 'third_party')]
from googlecloudsdk import gcloud_main  # noqa: E402
from apitools.base.protorpclite import messages  # noqa: E402
from apitools.base.py import encoding  # noqa: E402
from googlecloudsdk.api_lib.util import apis  # noqa: E402
from googlecloudsdk.core.resource import resource_filter, resource_printer  # noqa: E402


def unknown_fields(message, path=''):
    """The paths of the fields a decoded message did not know, nested ones included."""
    found = [path + name for name in message.all_unrecognized_fields()]
    for field in message.all_fields():
        value = message.get_assigned_value(field.name)
        if not isinstance(field, messages.MessageField) or value is None:
            continue
        for i, item in enumerate(value if field.repeated else [value]):
            where = '%s%s%s.' % (path, field.name, '[%d]' % i if field.repeated else '')
            found += unknown_fields(item, where)
    return found


calls = json.load(sys.stdin)
cli = gcloud_main.CreateCLI([])
results = []
saved_fd2 = os.dup(2)
for call in calls:
    if 'filter' in call:
        try:
            compiled = resource_filter.Compile(call['filter'])
            passes = [bool(compiled.Evaluate(resource)) for resource in call['resources']]
            results.append({'code': 0, 'stdout': json.dumps(passes), 'stderr': ''})
        except Exception as e:  # a bad expression is a failure of that entry, not of all
            results.append({'code': 1, 'stdout': '', 'stderr': '%s: %s' % (type(e).__name__, e)})
        continue
    if 'message' in call:
        try:
            api, version, name = call['message'].split('/')
            decoded = encoding.JsonToMessage(getattr(apis.GetMessagesModule(api, version), name), call['json'])
            results.append({'code': 0, 'stdout': json.dumps(unknown_fields(decoded)), 'stderr': ''})
        except Exception as e:  # not JSON, or a value of the wrong type
            results.append({'code': 1, 'stdout': '', 'stderr': '%s: %s' % (type(e).__name__, e)})
        continue
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
