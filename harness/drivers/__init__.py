"""How the DSL reaches a platform: one package per capability, each with its contract
(``contract.py``: a typing.Protocol in domain verbs, and the domain outcome types), its
implementations (``in_process.py``, ``network.py`` where the capability has a network interface)
and its back doors for Given-steps (``backdoor.py``). Only drivers and services touch ``apex``."""
