"""Web Push: VAPID keys, device subscriptions, reminders and their deliveries."""
