"""Pages for managers and admins: users, account assignment, team activity, custom fields."""
