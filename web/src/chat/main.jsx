import { render } from 'preact';
import 'highlight.js/styles/github-dark.css';
import 'katex/dist/katex.min.css';
import '../styles/common.css';
import '../styles/chat.css';
import { App } from './App.jsx';

render(<App />, document.getElementById('app'));
