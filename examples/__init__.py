"""Example plug-in architectures: not part of the installed package, importable from the repository
root (the workflow puts it on PYTHONPATH). Each is named in config by its dotted path, e.g.
``examples.linear_attention:LinearAttentionLM``; see README "Compare your architecture"."""
