"""pyinfra deploy units of exitkit: one module per concern, each a small @deploy."""
