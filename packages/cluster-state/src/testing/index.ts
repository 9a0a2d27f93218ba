export { ApiFixture, type FixtureFaults, type FixtureObject } from './api-fixture.js';
