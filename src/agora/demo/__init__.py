"""The demo seeder: a generated network of realistic shape."""
