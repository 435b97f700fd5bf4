"""Notifier: story events to signed webhooks for the subscriptions they match."""
