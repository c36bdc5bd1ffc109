"""subscriptions: the billing engine behind a SaaS self-service billing center."""
