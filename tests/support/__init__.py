"""Helpers that tests import (``from tests.support.<module> import ...``); fixtures stay in
the conftest.py files.

* ``eventset`` — a generated event set and its independent oracle;
* ``badinputs`` — hypothesis strategies for inputs that must be dead-lettered;
* ``reporting`` — text blocks printed at the end of the pytest run;
* ``waiting`` — ``wait_until``: a bounded wait on a condition;
* ``settings`` — ``namespaced``: settings in a unique namespace on the shared stack;
* ``processes`` — ``REPO``, ``settings_env`` and ``Processes`` (forgood sub-commands as real processes);
* ``readback`` — ``read_back``: ClickHouse's totals and minutes as the oracle states them;
* ``topics`` — ``read_topic``: every record of a Kafka topic to its current end;
* ``serving`` — start ``forgood serve``, wait until it answers, read its API and event stream;
* ``faust_patches_fakes`` — stand-ins for the Faust objects streams.faust_patches touches.
"""
