"""What every service process shares: settings, logging, the HTTP shell and the runner."""
