// Returns at once: subtracting its cost from a real model's isolates predict().
function predict(f) { return 0; }
