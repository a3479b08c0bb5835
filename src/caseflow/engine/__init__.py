"""The pure execution core: tokens, element behaviours, gateways, events."""
