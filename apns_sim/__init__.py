"""apns_sim."""
