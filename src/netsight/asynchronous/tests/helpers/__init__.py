"""What the tests share and are not tests themselves: layers' views, browsers, real instances, Chromium."""
