// Every test process serves functions the way Cloud Functions does.
process.env.NODE_ENV = 'production';
