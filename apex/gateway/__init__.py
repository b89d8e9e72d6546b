"""The WebSocket gateway: authenticates a tenant's client by API key at the handshake, admits its
runs against the tier limits, queues them for the orchestration workers, and streams each run's
events back. The protocol is described once, in ``apex.gateway.protocol``.

``python -m apex.gateway --port N`` starts a gateway process; any number of replicas share the
stores.
"""
