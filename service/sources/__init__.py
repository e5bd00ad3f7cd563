"""Clients of the activity sources tenants configure (the Marketo Engage REST protocol) and
the call rate they share across workers."""
